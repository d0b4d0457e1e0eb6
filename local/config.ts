import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_PROCESSOR_MAX_CONCURRENCY } from '../contracts/index.js';

/**
 * Configuration of local mode (`npm start`), read from the environment once, with defaults that make a
 * bare `npm start` work on a laptop. Everything listens on loopback and nothing here is a real secret:
 * the Smartcar defaults are placeholders that only local mode accepts.
 */

const port = (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback);
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** `true`/`false`/`1`/`0` (any case); empty = unset. */
const optionalFlag = z
  .string()
  .optional()
  .transform((value) => {
    const text = value?.trim().toLowerCase();
    return text === '' ? undefined : text;
  })
  .pipe(z.enum(['true', 'false', '1', '0']).optional())
  .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1'));

const optionalUrl = optionalText.refine(
  (value) => value === undefined || URL.canParse(value),
  'must be an absolute URL',
);

/** Smartcar permissions Connect asks for when `POST /connect` names none (a few read-only ones). */
export const LOCAL_DEFAULT_SCOPES = 'read_vehicle_info,read_odometer';

/** Paths of the local stand-ins for the app's "connected" / "connection failed" pages (local/routes/pages.ts). */
export const LOCAL_PAGE_PATHS = {
  connected: '/local/connected',
  connectFailed: '/local/connect-failed',
} as const;

const schema = z.object({
  PORT: port(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  LOCAL_DYNAMODB_PORT: port(8000),
  LOCAL_SQS_PORT: port(9324),
  LOCAL_SECRETS_PORT: port(4584),
  LOCAL_KMS_PORT: port(4599),
  LOCAL_FAKE_SMARTCAR: optionalFlag,
  // What npm 11 turns `npm start --fake-smartcar` into (an unknown npm option, not an argument of the script):
  // `true`, or an empty string for `--fake-smartcar=false` / `--no-fake-smartcar`.
  npm_config_fake_smartcar: optionalFlag,
  LOCAL_FAKE_SMARTCAR_PORT: port(4010),
  LOCAL_DATA_DIR: z.string().trim().min(1).default('.local'),
  SMARTCAR_CLIENT_ID: z.string().trim().min(1).default('local-client-id'),
  SMARTCAR_CLIENT_SECRET: z.string().trim().min(1).default('local-client-secret'),
  SMARTCAR_MANAGEMENT_TOKEN: z.string().trim().min(1).default('local-management-token'),
  SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN: optionalText,
  SMARTCAR_REDIRECT_URI: optionalUrl,
  SMARTCAR_MODE: z.enum(['live', 'test', 'simulated']).default('simulated'),
  // Unset: the local default; set but empty: no `scope` in the Connect URL (the Dashboard's Vehicle Access).
  SMARTCAR_DEFAULT_SCOPES: z.string().trim().default(LOCAL_DEFAULT_SCOPES),
  CONNECT_SUCCESS_URL: optionalUrl,
  CONNECT_FAILURE_URL: optionalUrl,
  SMARTCAR_WEBHOOK_IDS: z.string().trim().default(''),
  TEST_EVENTS: z.enum(['separate', 'skip']).default('separate'),
  LOCAL_VISIBILITY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(43_200).default(30),
  LOCAL_MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).default(5),
  // The event source mapping allows up to 10 000 per batch; more than 10 needs a batching window there too.
  LOCAL_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(10),
  LOCAL_PROCESSOR_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(DEFAULT_PROCESSOR_MAX_CONCURRENCY),
  LOCAL_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(300_000).default(0),
  // The stack's default schedule is rate(15 minutes); 0 turns the timer off (POST /local/jobs/token-refresh still works).
  LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES: z.coerce.number().min(0).max(1440).default(15),
  AWS_REGION: z.string().trim().min(1).default('us-east-1'),
  LOCAL_FUNCTION_TIMEOUT_SECONDS: z.coerce.number().int().positive().max(900).optional(),
  POWERTOOLS_LOG_LEVEL: z.string().trim().min(1).default('INFO'),
  POWERTOOLS_METRICS_DISABLED: z.enum(['true', 'false']).default('false'),
});

export interface LocalConfig {
  readonly port: number;
  readonly host: string;
  readonly dynamoDbPort: number;
  readonly sqsPort: number;
  readonly secretsPort: number;
  readonly kmsPort: number;
  /** Absolute path of the state directory (DynamoDB files live in `<dataDir>/dynamodb`). */
  readonly dataDir: string;
  readonly region: string;
  readonly smartcar: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly managementToken: string;
    readonly previousManagementToken: string | undefined;
    readonly redirectUri: string;
    readonly mode: 'live' | 'test' | 'simulated';
    /** Comma-separated, as the Lambdas read SMARTCAR_DEFAULT_SCOPES; '' = none (the Dashboard's). */
    readonly defaultScopes: string;
    /** Where the callback sends the browser: `?status=connected&vehicles=<n>` / `?reason=<code>`. */
    readonly connectSuccessUrl: string;
    readonly connectFailureUrl: string;
    /** Comma-separated webhook ids each linked vehicle is subscribed to; '' = none (auto-enrollment). */
    readonly webhookIds: string;
  };
  /**
   * The Smartcar stand-in (local/stand-ins/smartcar/index.ts) instead of the real Smartcar: `--fake-smartcar`,
   * `LOCAL_FAKE_SMARTCAR=true` or `npm start --fake-smartcar` (npm_config_fake_smartcar).
   */
  readonly fakeSmartcar: {
    readonly enabled: boolean;
    readonly port: number;
    /** What decided `enabled` (undefined: nothing asked, the default). */
    readonly source: 'argument' | 'LOCAL_FAKE_SMARTCAR' | 'npm_config_fake_smartcar' | undefined;
  };
  readonly testEvents: 'separate' | 'skip';
  readonly queue: {
    readonly visibilityTimeoutSeconds: number;
    readonly maxReceiveCount: number;
    readonly batchSize: number;
    readonly batchWindowMs: number;
    /** Processor batches in flight at once. */
    readonly concurrency: number;
  };
  /** Interval of the token refresh schedule in ms; 0 = only on demand. */
  readonly tokenRefreshIntervalMs: number;
  /** Overrides every function's timeout (e.g. to sit in a debugger); undefined = the stack's timeouts. */
  readonly functionTimeoutSeconds: number | undefined;
  readonly powertools: { readonly logLevel: string; readonly metricsDisabled: boolean };
}

/** One documented variable; the README's table is generated from this list so the two never drift. */
export interface ConfigVariable {
  readonly name: keyof z.infer<typeof schema>;
  readonly default: string;
  readonly meaning: string;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'PORT', default: '3000', meaning: 'port of the local HTTP API (the API Gateway stand-in)' },
  {
    name: 'HOST',
    default: '127.0.0.1',
    meaning: 'interface the HTTP API listens on; keep it on loopback (IAM auth is not enforced locally)',
  },
  { name: 'LOCAL_DYNAMODB_PORT', default: '8000', meaning: 'port of DynamoDB Local (Java 17)' },
  { name: 'LOCAL_SQS_PORT', default: '9324', meaning: 'port of the SQS emulator (fauxqs, in memory)' },
  { name: 'LOCAL_SECRETS_PORT', default: '4584', meaning: 'port of the Secrets Manager stand-in' },
  {
    name: 'LOCAL_KMS_PORT',
    default: '4599',
    meaning: 'port of the KMS stand-in that encrypts the stored OAuth tokens',
  },
  {
    name: 'LOCAL_FAKE_SMARTCAR',
    default: 'false',
    meaning:
      '`true`: OAuth talks to a fake Smartcar on loopback instead of the real one; same as `npm start -- --fake-smartcar` ' +
      'or `npm start --fake-smartcar` (which npm passes on as `npm_config_fake_smartcar`)',
  },
  {
    name: 'LOCAL_FAKE_SMARTCAR_PORT',
    default: '4010',
    meaning: 'port of the fake Smartcar (Connect page, token endpoint, vehicle and management APIs)',
  },
  {
    name: 'LOCAL_DATA_DIR',
    default: '.local',
    meaning:
      'state directory: DynamoDB tables persist in `<dir>/dynamodb`, the KMS stand-in’s master key in ' +
      '`<dir>/kms-master.key` (delete the directory to start empty; never only the key)',
  },
  {
    name: 'SMARTCAR_CLIENT_ID',
    default: 'local-client-id',
    meaning: 'Smartcar client id, served as `clientId` of the local secret',
  },
  {
    name: 'SMARTCAR_CLIENT_SECRET',
    default: 'local-client-secret',
    meaning: 'Smartcar client secret, served as `clientSecret` of the local secret',
  },
  {
    name: 'SMARTCAR_MANAGEMENT_TOKEN',
    default: 'local-management-token',
    meaning: 'Application Management Token (AMT): HMAC key of webhook signatures and VERIFY answers',
  },
  {
    name: 'SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN',
    default: '(unset)',
    meaning: 'the AMT before a rotation, still accepted for signatures',
  },
  {
    name: 'SMARTCAR_REDIRECT_URI',
    default: 'http://127.0.0.1:<PORT>/oauth/callback',
    meaning:
      'OAuth redirect URI handed to the Lambdas (register it in the Smartcar Dashboard for the real Smartcar)',
  },
  {
    name: 'SMARTCAR_MODE',
    default: 'simulated',
    meaning: 'Smartcar Connect mode: `live`, `test` or `simulated`',
  },
  {
    name: 'SMARTCAR_DEFAULT_SCOPES',
    default: LOCAL_DEFAULT_SCOPES,
    meaning:
      'permissions Connect asks for when `POST /connect` names none (comma-separated); empty: the Dashboard’s',
  },
  {
    name: 'CONNECT_SUCCESS_URL',
    default: `http://127.0.0.1:<PORT>${LOCAL_PAGE_PATHS.connected}`,
    meaning: 'where the callback sends the browser after a Connect (`?status=connected&vehicles=<n>`)',
  },
  {
    name: 'CONNECT_FAILURE_URL',
    default: `http://127.0.0.1:<PORT>${LOCAL_PAGE_PATHS.connectFailed}`,
    meaning: 'where the callback sends the browser when a Connect fails (`?reason=<code>`)',
  },
  {
    name: 'SMARTCAR_WEBHOOK_IDS',
    default: '',
    meaning:
      'webhook ids (comma-separated) each vehicle linked by Connect is subscribed to; empty: none (the Dashboard’s auto-enrollment)',
  },
  {
    name: 'TEST_EVENTS',
    default: 'separate',
    meaning: 'TEST-mode events: `separate` (own `TEST#` partitions) or `skip` (dropped, counted)',
  },
  {
    name: 'LOCAL_VISIBILITY_TIMEOUT_SECONDS',
    default: '30',
    meaning: 'visibility timeout of the webhook queue: a failed message reappears after it',
  },
  {
    name: 'LOCAL_MAX_RECEIVE_COUNT',
    default: '5',
    meaning: 'receives before the queue moves a message to the DLQ (`RedrivePolicy.maxReceiveCount`)',
  },
  { name: 'LOCAL_BATCH_SIZE', default: '10', meaning: 'largest batch handed to the processor' },
  {
    name: 'LOCAL_PROCESSOR_CONCURRENCY',
    default: String(DEFAULT_PROCESSOR_MAX_CONCURRENCY),
    meaning: 'processor batches run at once (the stack’s `processorMaxConcurrency` default)',
  },
  {
    name: 'LOCAL_BATCH_WINDOW_MS',
    default: '0',
    meaning: 'how long the poller gathers records before invoking (the stack’s mapping uses 2 s)',
  },
  {
    name: 'LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES',
    default: '15',
    meaning:
      'how often the token refresh job runs (the stack’s schedule); `0`: only on demand via `POST /local/jobs/token-refresh`',
  },
  {
    name: 'LOCAL_FUNCTION_TIMEOUT_SECONDS',
    default: '(the stack’s: 10 s HTTP, 30 s processor)',
    meaning: 'overrides every Lambda timeout (e.g. while debugging); a batch running longer counts as failed',
  },
  { name: 'POWERTOOLS_LOG_LEVEL', default: 'INFO', meaning: 'log level of the Lambdas (Powertools Logger)' },
  {
    name: 'POWERTOOLS_METRICS_DISABLED',
    default: 'false',
    meaning: '`true` silences the metrics (EMF lines on stdout) that the Lambdas print locally',
  },
  {
    name: 'AWS_REGION',
    default: 'us-east-1',
    meaning: 'region in ARNs and SDK clients (credentials are always dummy, endpoints always local)',
  },
];

/** What `npm start -- <options>` accepts. */
export interface LocalArgs {
  readonly fakeSmartcar: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: npm start [-- --fake-smartcar]

  --fake-smartcar   OAuth against a fake Smartcar on loopback (no credentials, no network);
                    also LOCAL_FAKE_SMARTCAR=true, or \`npm start --fake-smartcar\` without \`--\`
  --help            this text and the variables local mode reads`;

/** Parses the command line; an unknown option is an error (a typo must not silently reach the real Smartcar). */
export function parseLocalArgs(argv: readonly string[]): LocalArgs {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { 'fake-smartcar': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
    return { fakeSmartcar: values['fake-smartcar'] === true, help: values.help === true };
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
}

/**
 * Parses the environment (and the command line); a bad value stops local mode with the variable's name and
 * what is wrong.
 */
export function loadLocalConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  argv: readonly string[] = [],
): LocalConfig {
  const args = parseLocalArgs(argv);
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid local configuration: ${problems}`);
  }
  const c = result.data;
  // The command line wins, then the variable, then what npm made of `npm start --fake-smartcar`.
  const fakeSmartcar: LocalConfig['fakeSmartcar'] = args.fakeSmartcar
    ? { enabled: true, port: c.LOCAL_FAKE_SMARTCAR_PORT, source: 'argument' }
    : c.LOCAL_FAKE_SMARTCAR !== undefined
      ? { enabled: c.LOCAL_FAKE_SMARTCAR, port: c.LOCAL_FAKE_SMARTCAR_PORT, source: 'LOCAL_FAKE_SMARTCAR' }
      : c.npm_config_fake_smartcar !== undefined
        ? {
            enabled: c.npm_config_fake_smartcar,
            port: c.LOCAL_FAKE_SMARTCAR_PORT,
            source: 'npm_config_fake_smartcar',
          }
        : { enabled: false, port: c.LOCAL_FAKE_SMARTCAR_PORT, source: undefined };
  const localApi = `http://127.0.0.1:${c.PORT}`;
  return {
    port: c.PORT,
    host: c.HOST,
    dynamoDbPort: c.LOCAL_DYNAMODB_PORT,
    sqsPort: c.LOCAL_SQS_PORT,
    secretsPort: c.LOCAL_SECRETS_PORT,
    kmsPort: c.LOCAL_KMS_PORT,
    dataDir: resolve(cwd, c.LOCAL_DATA_DIR),
    region: c.AWS_REGION,
    smartcar: {
      clientId: c.SMARTCAR_CLIENT_ID,
      clientSecret: c.SMARTCAR_CLIENT_SECRET,
      managementToken: c.SMARTCAR_MANAGEMENT_TOKEN,
      previousManagementToken: c.SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN,
      redirectUri: c.SMARTCAR_REDIRECT_URI ?? `${localApi}/oauth/callback`,
      mode: c.SMARTCAR_MODE,
      defaultScopes: c.SMARTCAR_DEFAULT_SCOPES,
      connectSuccessUrl: c.CONNECT_SUCCESS_URL ?? `${localApi}${LOCAL_PAGE_PATHS.connected}`,
      connectFailureUrl: c.CONNECT_FAILURE_URL ?? `${localApi}${LOCAL_PAGE_PATHS.connectFailed}`,
      webhookIds: c.SMARTCAR_WEBHOOK_IDS,
    },
    fakeSmartcar,
    testEvents: c.TEST_EVENTS,
    queue: {
      visibilityTimeoutSeconds: c.LOCAL_VISIBILITY_TIMEOUT_SECONDS,
      maxReceiveCount: c.LOCAL_MAX_RECEIVE_COUNT,
      batchSize: c.LOCAL_BATCH_SIZE,
      batchWindowMs: c.LOCAL_BATCH_WINDOW_MS,
      concurrency: c.LOCAL_PROCESSOR_CONCURRENCY,
    },
    tokenRefreshIntervalMs: c.LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES * 60_000,
    functionTimeoutSeconds: c.LOCAL_FUNCTION_TIMEOUT_SECONDS,
    powertools: {
      logLevel: c.POWERTOOLS_LOG_LEVEL,
      metricsDisabled: c.POWERTOOLS_METRICS_DISABLED === 'true',
    },
  };
}

/** The variables as a Markdown table (for the README and `--help`-style output). */
export function configTableMarkdown(): string {
  const rows = CONFIG_VARIABLES.map((v) => `| \`${v.name}\` | \`${v.default}\` | ${v.meaning} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
