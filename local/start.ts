import { CONFIG_VARIABLES, loadLocalConfig, parseLocalArgs, USAGE, type LocalConfig } from './config.js';
import { DEFAULT_TIMEOUT_SECONDS, LOCAL_FUNCTIONS } from './runtime/functions.js';
import { watchLauncher } from './launcher-watch.js';
import { FAKE_SMARTCAR_VEHICLES, LOCAL_NAMES, startLocalStack, type RunningLocalStack } from './stack.js';
import { signature } from './webhook-client.js';

/**
 * `npm start`: the whole product on this machine, with the real Lambda handlers on local stand-ins for
 * AWS. Prints a banner and, last, the machine-readable line `Local stack ready at <url>` that scripts and
 * the integration tests wait for. SIGINT/SIGTERM/SIGHUP or an uncaught error stop every child (the
 * DynamoDB Local JVM included) before the process exits.
 */

/** The vehicle of examples/vehicle-state.json, for the copy-paste example. */
// The AWS SDK warns on every start that its 2027 releases will need Node 22. Local mode supports Node >= 20 with
// the SDK versions pinned in package-lock.json, and the Lambdas run on Node 24, so the warning is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const EXAMPLE_VEHICLE_ID = '3c1e7f7a-0000-4000-8000-00000000e001';
const SHUTDOWN_DEADLINE_MS = 15_000;

const ALICE = 'alice';

function banner(config: LocalConfig, stack: RunningLocalStack): string {
  const verifyBody = '{"eventType":"VERIFY","data":{"challenge":"hello"}}';
  const expected = signature(config.smartcar.managementToken, 'hello');
  const portPrefix = config.port === 3000 ? '' : `PORT=${config.port} `;
  const tokenPrefix =
    config.smartcar.managementToken === 'local-management-token'
      ? ''
      : 'SMARTCAR_MANAGEMENT_TOKEN=<your AMT> ';
  const iamRoutes = stack.routes.filter((route) => route.auth === 'iam').map((route) => route.routeKey);
  const warning = [
    '!'.repeat(78),
    '!! IAM AUTH IS NOT ENFORCED LOCALLY. In AWS these routes require SigV4 (IAM):',
    ...wrap(iamRoutes, 72).map((line) => `!!   ${line}`),
    `!! Here anyone who can reach ${stack.url} can read and list vehicle data, start a`,
    '!! Connect for any user id and disconnect vehicles, without credentials.',
    '!'.repeat(78),
  ];
  const width = Math.max(...stack.routes.map((route) => route.routeKey.length)) + 2;
  const routeLines = stack.routes.map(
    (route) =>
      `                      ${route.routeKey.padEnd(width)}${route.functionName.padEnd(23)}` +
      (route.auth === 'iam' ? 'IAM in AWS, OPEN here' : 'public'),
  );
  const tables = [LOCAL_NAMES.vehicleTable, LOCAL_NAMES.oauthStateTable, LOCAL_NAMES.tokenTable];
  return [
    '',
    'Smartcar integration — local mode (same Lambda handlers, local stand-ins for AWS)',
    '',
    `  HTTP API          ${stack.url}   (API Gateway HTTP API stand-in, payload format 2.0)`,
    ...routeLines,
    `                      ${stack.pages.join(', ')}   local Connect landing pages`,
    `                      ${stack.jobs.join(', ')}   local only: run the refresh job now; grant metadata (never tokens)`,
    `  DynamoDB Local    ${stack.dynamoDbEndpoint}   tables ${tables.join(', ')}`,
    `                    state persists in ${stack.dynamoDbPath} (delete it to start empty)`,
    `  SQS (fauxqs)      ${stack.sqsEndpoint}   queue ${LOCAL_NAMES.queue}, DLQ ${LOCAL_NAMES.deadLetterQueue}`,
    '                    IN MEMORY: queued and dead-lettered messages do not survive a restart',
    `                    processor: batch ${config.queue.batchSize}, window ${config.queue.batchWindowMs} ms, ` +
      `visibility ${config.queue.visibilityTimeoutSeconds} s, DLQ after ${config.queue.maxReceiveCount} receives`,
    `  Secrets Manager   ${stack.secretsManagerEndpoint}   secret ${LOCAL_NAMES.secret} (from SMARTCAR_* variables)`,
    `  KMS (stand-in)    ${stack.kmsEndpoint}   token key ${stack.tokenKeyId}`,
    `                    master key ${stack.kmsMasterKeyFile}: stored tokens decrypt only with it`,
    ...smartcarLines(config, stack),
    `  OAuth             redirect URI ${config.smartcar.redirectUri}, mode ${config.smartcar.mode}, ` +
      `default scopes ${config.smartcar.defaultScopes || "(none: the Dashboard's)"}`,
    `                    success page ${config.smartcar.connectSuccessUrl}`,
    `                    failure page ${config.smartcar.connectFailureUrl}`,
    `  Token refresh     ${
      config.tokenRefreshIntervalMs > 0
        ? `every ${config.tokenRefreshIntervalMs / 60_000} min (the stack's EventBridge schedule)`
        : 'schedule off (LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES=0)'
    }, and on demand:`,
    `                    curl -s -X POST ${stack.url}/local/jobs/token-refresh -d '{"time":"<ISO-8601>"}'`,
    ...subscriptionLines(config, stack),
    '',
    ...warning,
    '',
    'Try it:',
    `  curl -s -X POST ${stack.url}/webhooks/smartcar -H 'content-type: application/json' \\`,
    `       -d '${verifyBody}'`,
    `  # expected answer: {"challenge":"${expected}"}  (HMAC-SHA256 of "hello" keyed with the AMT)`,
    `  ${portPrefix}${tokenPrefix}npm run send-webhook -- examples/vehicle-state.json`,
    `  curl -s ${stack.url}/vehicles/${EXAMPLE_VEHICLE_ID}`,
    '',
    ...oauthWalkThrough(config, stack),
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

/** Joins items with ", " into lines of at most `width` characters. */
function wrap(items: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line === '' ? item : `${line}, ${item}`;
    if (next.length > width && line !== '') {
      lines.push(`${line},`);
      line = item;
    } else {
      line = next;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

const SMARTCAR_ORIGIN_VARIABLES = [
  'SMARTCAR_AUTH_ORIGIN',
  'SMARTCAR_API_ORIGIN',
  'SMARTCAR_MANAGEMENT_API_ORIGIN',
] as const;

function smartcarLines(config: LocalConfig, stack: RunningLocalStack): string[] {
  const fake = stack.fakeSmartcar;
  if (fake) {
    const vehicles = FAKE_SMARTCAR_VEHICLES.map((v) => `${v.year} ${v.make} ${v.model}`).join(', ');
    const lines = [
      `  Smartcar (FAKE)   ${fake.url}   Connect page, token endpoint, vehicle and management APIs`,
      `                    IN MEMORY; each Connect authorizes a new Smartcar user with ${FAKE_SMARTCAR_VEHICLES.length} ` +
        `vehicles (${vehicles})`,
    ];
    if (config.fakeSmartcar.source === 'npm_config_fake_smartcar') {
      // npm 11 passes an unknown option on as npm_config_fake_smartcar, and warns that its next major will not.
      lines.push(
        '                    (switched on by `npm start --fake-smartcar`; `npm start -- --fake-smartcar`',
      );
      lines.push(
        '                    or LOCAL_FAKE_SMARTCAR=true keep working when npm stops passing it on)',
      );
    }
    return lines;
  }
  // The shell may point the SDK elsewhere (the Lambdas run in this process and see its variables).
  const overridden = SMARTCAR_ORIGIN_VARIABLES.filter((name) => process.env[name]);
  const lines = [
    '  Smartcar (REAL)   the Lambdas call the real Smartcar over the network: OAuth needs real credentials',
    '                    (SMARTCAR_CLIENT_ID, SMARTCAR_CLIENT_SECRET, SMARTCAR_MANAGEMENT_TOKEN) and the redirect',
    `                    URI ${config.smartcar.redirectUri} registered in the Smartcar Dashboard.`,
    '                    To try OAuth offline: npm start -- --fake-smartcar',
  ];
  if (config.smartcar.clientId === 'local-client-id') {
    lines.push(
      '                    NOTE: SMARTCAR_CLIENT_ID is the local placeholder; Smartcar will refuse it.',
    );
  }
  for (const name of overridden)
    lines.push(`                    ${name}=${process.env[name]} (from the shell)`);
  return lines;
}

function oauthWalkThrough(config: LocalConfig, stack: RunningLocalStack): string[] {
  const connect = `curl -s -X POST ${stack.url}/connect -d '{"userId":"${ALICE}"}'`;
  const common = [
    `  curl -s '${stack.url}/vehicles?userId=${ALICE}'`,
    `  curl -s -X DELETE ${stack.url}/vehicles/<vehicleId from the list>`,
  ];
  if (!stack.fakeSmartcar) {
    return [
      'OAuth with the real Smartcar (see above for what it needs):',
      `  ${connect}`,
      '  # open the "url" it answers in a browser and connect a vehicle (mode ' +
        `${config.smartcar.mode}); you land on the success page, then:`,
      ...common,
    ];
  }
  const connectedUrl = new URL(config.smartcar.connectSuccessUrl);
  connectedUrl.searchParams.set('status', 'pending');
  connectedUrl.searchParams.set('vehicles', String(FAKE_SMARTCAR_VEHICLES.length));
  const landing = `${connectedUrl.toString()}&connectId=<connectId>`;
  const extractUrl = `node -p 'JSON.parse(fs.readFileSync(0, "utf8")).url'`;
  return [
    `OAuth with the fake Smartcar (app user "${ALICE}"):`,
    `  ${connect}`,
    '  # answers {"url":"…","state":"…","expiresAt":"…"}: open the url in a browser and click Allow (or Deny),',
    '  # or follow it without a browser: fake_auto=1 approves at once (fake_error=access_denied refuses)',
    `  curl -sL "<url>&fake_auto=1"`,
    `  # either way you end on ${landing}`,
    '  # the same in one line:',
    `  curl -sL "$(${connect} | ${extractUrl})&fake_auto=1"`,
    '  # nothing is linked until your backend confirms it for the user logged in on that browser:',
    `  curl -s -X POST ${stack.url}/connect/<connectId>/confirm -d '{"userId":"${ALICE}"}'`,
    '  # (another userId: 403 connect_user_mismatch, and the connection is revoked at Smartcar)',
    ...common.slice(0, 1),
    `  curl -s '${stack.url}/local/grants?userId=${ALICE}'   # the grant: version, expiries (never tokens)`,
    '  # run the token refresh job as of 55 days from now: the grant is rotated (new version, new expiry)',
    `  curl -s -X POST ${stack.url}/local/jobs/token-refresh -d "{\\"time\\":\\"$(node -p 'new Date(Date.now() + 55 * 864e5).toISOString()')\\"}"`,
    `  curl -s '${stack.url}/local/grants?userId=${ALICE}'   # rotated: version +1, new expiries`,
    ...subscriptionWalkThrough(config, stack),
    ...common.slice(1),
    `  curl -s -X DELETE ${stack.url}/users/${ALICE}   # every connection of the user, revoked`,
    `  curl -s -X POST ${stack.url}/local/jobs/expire-connects   # revoke unconfirmed connects past their window`,
    `  curl -s -X POST ${stack.url}/local/jobs/reconcile   # compare Smartcar's connections with the grants`,
  ];
}

function subscriptionLines(config: LocalConfig, stack: RunningLocalStack): string[] {
  const ids = config.smartcar.webhookIds;
  return [
    ids === ''
      ? '  Subscriptions     none (SMARTCAR_WEBHOOK_IDS is empty: the Dashboard’s auto-enrollment subscribes vehicles)'
      : `  Subscriptions     each linked vehicle is subscribed to ${ids} (SMARTCAR_WEBHOOK_IDS), through ` +
        `queue ${LOCAL_NAMES.subscriptionQueue}`,
    `                    re-run for all linked vehicles: curl -s -X POST ${stack.url}/local/jobs/subscriptions`,
  ];
}

function subscriptionWalkThrough(config: LocalConfig, stack: RunningLocalStack): string[] {
  if (config.smartcar.webhookIds === '') {
    return [
      '  # with SMARTCAR_WEBHOOK_IDS=wh-a,wh-b, GET /vehicles/<vehicleId> lists "subscriptions" ACTIVE after a Connect',
    ];
  }
  return [
    `  # each vehicle is subscribed to ${config.smartcar.webhookIds} within seconds: "subscriptions" shows them ACTIVE`,
    `  curl -s ${stack.url}/vehicles/<vehicleId from the list>`,
    `  curl -s -X POST ${stack.url}/vehicles/<vehicleId>/subscriptions   # subscribe it again (e.g. after adding an id)`,
  ];
}

function help(): string {
  const variables = CONFIG_VARIABLES.map((v) => `  ${v.name} (default ${v.default})\n      ${v.meaning}`);
  return [USAGE, '', 'Variables:', ...variables, ''].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (parseLocalArgs(argv).help) {
    console.log(help());
    return;
  }
  const config = loadLocalConfig(process.env, process.cwd(), argv);
  const processorTimeout =
    config.functionTimeoutSeconds ??
    LOCAL_FUNCTIONS.webhookProcessor.timeoutSeconds ??
    DEFAULT_TIMEOUT_SECONDS;
  const { visibilityTimeoutSeconds, batchWindowMs } = config.queue;
  if (visibilityTimeoutSeconds < processorTimeout + batchWindowMs / 1000) {
    // Allowed here (tests use 1–2 s), but AWS rejects such a mapping: say so rather than diverge silently.
    console.warn(
      `[local] note: LOCAL_VISIBILITY_TIMEOUT_SECONDS (${visibilityTimeoutSeconds}) is below the processor ` +
        `timeout (${processorTimeout} s) plus the batching window; AWS requires it to be at least that ` +
        '(the stack uses 6 × the timeout). A slow batch can be delivered twice.',
    );
  }
  if (!['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
    console.warn(
      `[local] WARNING: HOST=${config.host} exposes the unauthenticated local API beyond this machine.`,
    );
  }
  console.log(
    '[local] starting DynamoDB Local, the SQS emulator, the Secrets Manager and KMS stand-ins' +
      (config.fakeSmartcar.enabled ? ' and the fake Smartcar…' : '…'),
  );

  // On failure startLocalStack has already stopped whatever it had started.
  const starting: Promise<RunningLocalStack | undefined> = startLocalStack(config).catch((error: unknown) => {
    console.error(`[local] could not start: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  });

  let stopping: Promise<void> | undefined;
  let stoppingSince = 0;
  const shutdown = (reason: string, exitCode: number): void => {
    if (stopping) {
      // Ctrl-C reaches us twice (from the terminal and relayed by tsx): only a later signal is worth a word.
      if (Date.now() - stoppingSince > 1_000)
        console.log(`[local] ${reason}: already stopping, please wait…`);
      return;
    }
    stoppingSince = Date.now();
    console.log(`\n[local] ${reason}: stopping…`);
    const deadline = setTimeout(() => {
      console.error('[local] shutdown took too long; exiting');
      process.exit(exitCode || 1);
    }, SHUTDOWN_DEADLINE_MS);
    // A signal during start-up waits for the start to finish, so a JVM that is just booting is stopped too.
    stopping = starting
      .then((stack) => stack?.stop())
      .catch((error: unknown) => console.error('[local] error while stopping', error))
      .finally(() => {
        clearTimeout(deadline);
        console.log('[local] stopped');
        process.exit(exitCode);
      });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => shutdown(signal, 0));
  }
  // `npm start` killed with SIGTERM does not pass the signal on: notice that npm has gone instead.
  void watchLauncher(() => shutdown('npm has exited', 0));
  process.on('uncaughtException', (error) => {
    console.error('[local] uncaught exception', error);
    shutdown('uncaught exception', 1);
  });
  process.on('unhandledRejection', (reason) => {
    console.error('[local] unhandled rejection', reason);
    shutdown('unhandled rejection', 1);
  });

  const stack = await starting;
  if (stopping) return;
  if (!stack) process.exit(1);
  console.log(banner(config, stack));
  console.log(`Local stack ready at ${stack.url}`);
}

main().catch((error: unknown) => {
  // Only reached before anything was started (e.g. an invalid variable): nothing to stop.
  console.error(`[local] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
