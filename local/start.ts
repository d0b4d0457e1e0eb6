import { loadLocalConfig, type LocalConfig } from './config.js';
import { DEFAULT_TIMEOUT_SECONDS, LOCAL_FUNCTIONS } from './functions.js';
import { watchLauncher } from './launcher-watch.js';
import { startLocalStack, LOCAL_NAMES, type RunningLocalStack } from './stack.js';
import { signature } from './webhook-client.js';

/**
 * `npm start`: the whole product on this machine, with the real Lambda handlers on local stand-ins for
 * AWS. Prints a banner and, last, the machine-readable line `Local stack ready at <url>` that scripts and
 * the integration tests wait for. SIGINT/SIGTERM/SIGHUP or an uncaught error stop every child (the
 * DynamoDB Local JVM included) before the process exits.
 */

/** The vehicle of ../shared/reference/webhook-captures/polestar_2_all.json, for the copy-paste example. */
// The AWS SDK warns on every start that its 2027 releases will need Node 22. Local mode supports Node >= 20 with
// the SDK versions pinned in package-lock.json, and the Lambdas run on Node 24, so the warning is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const EXAMPLE_VEHICLE_ID = '875d9333-bbbb-4444-aaaa-17be22ebe970';
const SHUTDOWN_DEADLINE_MS = 15_000;

function banner(config: LocalConfig, stack: RunningLocalStack): string {
  const verifyBody = '{"eventType":"VERIFY","data":{"challenge":"hello"}}';
  const expected = signature(config.smartcar.managementToken, 'hello');
  const portPrefix = config.port === 3000 ? '' : `PORT=${config.port} `;
  const tokenPrefix =
    config.smartcar.managementToken === 'local-management-token'
      ? ''
      : 'SMARTCAR_MANAGEMENT_TOKEN=<your AMT> ';
  const warning = [
    '!'.repeat(78),
    '!! IAM AUTH IS NOT ENFORCED LOCALLY. In AWS, GET /vehicles/{vehicleId} requires SigV4 (IAM);',
    `!! here anyone who can reach ${stack.url} reads vehicle data without credentials.`,
    '!'.repeat(78),
  ];
  return [
    '',
    'Smartcar integration — local mode (same Lambda handlers, local stand-ins for AWS)',
    '',
    `  HTTP API          ${stack.url}   (API Gateway HTTP API stand-in, payload format 2.0)`,
    ...stack.routes.map((route) => `                      ${route}`),
    `  DynamoDB Local    ${stack.dynamoDbEndpoint}   tables ${LOCAL_NAMES.vehicleTable}, ${LOCAL_NAMES.idempotencyTable}`,
    `                    state persists in ${stack.dynamoDbPath} (delete it to start empty)`,
    `  SQS (fauxqs)      ${stack.sqsEndpoint}   queue ${LOCAL_NAMES.queue}, DLQ ${LOCAL_NAMES.deadLetterQueue}`,
    '                    IN MEMORY: queued and dead-lettered messages do not survive a restart',
    `                    processor: batch ${config.queue.batchSize}, window ${config.queue.batchWindowMs} ms, ` +
      `visibility ${config.queue.visibilityTimeoutSeconds} s, DLQ after ${config.queue.maxReceiveCount} receives`,
    `  Secrets Manager   ${stack.secretsManagerEndpoint}   secret ${LOCAL_NAMES.secret} (from SMARTCAR_* variables)`,
    '',
    ...warning,
    '',
    'Try it:',
    `  curl -s -X POST ${stack.url}/webhooks/smartcar -H 'content-type: application/json' \\`,
    `       -d '${verifyBody}'`,
    `  # expected answer: {"challenge":"${expected}"}  (HMAC-SHA256 of "hello" keyed with the AMT)`,
    `  ${portPrefix}${tokenPrefix}npm run send-webhook -- ../shared/reference/webhook-captures/polestar_2_all.json`,
    `  curl -s ${stack.url}/vehicles/${EXAMPLE_VEHICLE_ID}`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const config = loadLocalConfig();
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
  console.log('[local] starting DynamoDB Local, the SQS emulator and the Secrets Manager stand-in…');

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
