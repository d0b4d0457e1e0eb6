import {
  FUNCTION_IDS,
  FUNCTION_VARIABLES,
  FUNCTIONS,
  SUBSCRIPTION_MAX_ATTEMPTS,
  type FunctionVariable,
} from '../../contracts/index.js';
import type { LocalConfig } from '../config.js';

/**
 * The environment the Lambda handlers see locally: per function exactly the variables the stack sets for it in
 * AWS (contracts/functions.ts), pointed at the local stand-ins, plus the common AWS endpoint, credential and
 * Powertools variables. The handlers have no local-mode branches; everything local happens here, through
 * `AWS_ENDPOINT_URL_<SERVICE>` and dummy credentials.
 */

export interface LocalResources {
  readonly dynamoDbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly secretsManagerEndpoint: string;
  readonly kmsEndpoint: string;
  readonly queueUrl: string;
  /** The subscription queue (the worker's). */
  readonly subscriptionQueueUrl: string;
  /** The token refresh's recovery queue (parked rotations) in the SQS emulator. */
  readonly recoveryQueueUrl: string;
  readonly secretId: string;
  readonly vehicleTableName: string;
  readonly oauthStateTableName: string;
  readonly tokenTableName: string;
  /** The vehicle command audit table (command Lambda, processor confirmations). */
  readonly commandAuditTableName?: string;
  /** ARN of the token key in the KMS stand-in (in AWS: the token CMK's ARN). */
  readonly tokenKeyId: string;
  /** The fake Smartcar's origins (`FakeSmartcar.env`); undefined = the real Smartcar. */
  readonly smartcarOrigins?: SmartcarOrigins;
}

/** The variables the `smartcar` SDK (and the disconnect Lambda) read to find Smartcar. */
export interface SmartcarOrigins {
  readonly SMARTCAR_AUTH_ORIGIN: string;
  readonly SMARTCAR_API_ORIGIN: string;
  readonly SMARTCAR_MANAGEMENT_API_ORIGIN: string;
}

/**
 * Any AWS service without a local stand-in resolves here: a closed loopback port, so a call fails at once
 * with ECONNREFUSED instead of reaching real AWS (with dummy credentials) from a developer machine.
 */
export const NO_LOCAL_ENDPOINT = 'http://127.0.0.1:1';

/** The stack uses `Smartcar/<stage>`; local mode is the stage `local`. */
export const POWERTOOLS_METRICS_NAMESPACE = 'Smartcar/local';

/** Variables removed so nothing from the developer's shell (a profile, a session, a token) reaches the handlers. */
export const REMOVED_VARIABLES = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  // In AWS the Smartcar credentials exist only in the secret, never in a Lambda's environment; same here.
  'SMARTCAR_CLIENT_ID',
  'SMARTCAR_CLIENT_SECRET',
  'SMARTCAR_MANAGEMENT_TOKEN',
  'SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN',
] as const;

/**
 * What the stack sets beyond names and ARNs, with its default settings (lib/settings.ts, lib/features/*); a value
 * in the shell wins, for experiments.
 */
const STACK_SETTINGS = {
  MAX_BODY_BYTES: '131072',
  DEDUPE_TTL_SECONDS: '1209600',
  REFRESH_WINDOW_DAYS: '7',
  ACCESS_WARM_WINDOW_MINUTES: '0',
  REFRESH_CONCURRENCY: '10',
  REFRESH_LEASE_SECONDS: '60',
  COMMAND_AUDIT_DAYS: '90',
  SUBSCRIPTION_MAX_ATTEMPTS: String(SUBSCRIPTION_MAX_ATTEMPTS),
  // e.g. CONNECT_CONFIRM_MINUTES=1 npm start -- --fake-smartcar, to watch a connect expire.
  CONNECT_CONFIRMATION: 'required',
  CONNECT_CONFIRM_MINUTES: '15',
  RECONCILE_REVOKE_ORPHANS: 'false',
} as const;

/**
 * Every variable local mode can give a Lambda: the common ones (endpoints, credentials, Powertools) and a value
 * for each variable of contracts/functions.ts. Each function gets only its own of the latter
 * (`functionEnvironment`).
 */
export function lambdaEnvironment(
  config: LocalConfig,
  resources: LocalResources,
  shell: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const settings = Object.fromEntries(
    Object.entries(STACK_SETTINGS).map(([name, value]) => [name, shell[name] || value]),
  );
  return {
    ...settings,
    AWS_REGION: config.region,
    AWS_DEFAULT_REGION: config.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL: NO_LOCAL_ENDPOINT,
    AWS_ENDPOINT_URL_DYNAMODB: resources.dynamoDbEndpoint,
    AWS_ENDPOINT_URL_SQS: resources.sqsEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: resources.secretsManagerEndpoint,
    AWS_ENDPOINT_URL_KMS: resources.kmsEndpoint,
    QUEUE_URL: resources.queueUrl,
    SUBSCRIPTION_QUEUE_URL: resources.subscriptionQueueUrl,
    SMARTCAR_WEBHOOK_IDS: config.smartcar.webhookIds,
    TOKEN_RECOVERY_QUEUE_URL: resources.recoveryQueueUrl,
    SMARTCAR_SECRET_ID: resources.secretId,
    VEHICLE_TABLE_NAME: resources.vehicleTableName,
    OAUTH_STATE_TABLE_NAME: resources.oauthStateTableName,
    TOKEN_TABLE_NAME: resources.tokenTableName,
    ...(resources.commandAuditTableName !== undefined && {
      COMMAND_AUDIT_TABLE_NAME: resources.commandAuditTableName,
    }),
    TOKEN_KEY_ID: resources.tokenKeyId,
    TEST_EVENTS: config.testEvents,
    SMARTCAR_REDIRECT_URI: config.smartcar.redirectUri,
    SMARTCAR_MODE: config.smartcar.mode,
    SMARTCAR_DEFAULT_SCOPES: config.smartcar.defaultScopes,
    CONNECT_SUCCESS_URL: config.smartcar.connectSuccessUrl,
    CONNECT_FAILURE_URL: config.smartcar.connectFailureUrl,
    // The stack sets `true` (https only); local URLs are http://127.0.0.1.
    REQUIRE_HTTPS_URLS: 'false',
    // Without the fake, whatever the shell says (normally nothing: the SDK's defaults, the real Smartcar).
    ...(resources.smartcarOrigins ?? {}),
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: config.powertools.logLevel,
    POWERTOOLS_METRICS_DISABLED: String(config.powertools.metricsDisabled),
  };
}

/** The variables every function gets: `env` without any function's own variables. */
export function commonEnvironment(env: Record<string, string>): Record<string, string> {
  const own: readonly string[] = FUNCTION_VARIABLES;
  return Object.fromEntries(Object.entries(env).filter(([name]) => !own.includes(name)));
}

/** Applies the environment to this process (the handlers run in-process and read `process.env`). */
export function applyLambdaEnvironment(
  env: Record<string, string>,
  target: NodeJS.ProcessEnv = process.env,
): void {
  for (const name of REMOVED_VARIABLES) delete target[name];
  Object.assign(target, env);
}

/**
 * The variables of one function, set right before its module is imported (its cold start): its name, and
 * exactly the variables its contract declares, taken from `env` (lambdaEnvironment). A function local mode
 * has no contract for (a test's stand-in) gets only its name.
 */
export function functionEnvironment(
  functionName: string,
  env: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const id = FUNCTION_IDS.find((candidate) => FUNCTIONS[candidate].serviceName === functionName);
  const declared: readonly FunctionVariable[] = id === undefined ? [] : FUNCTIONS[id].environment;
  const own: Record<string, string> = {};
  for (const name of declared) {
    const value = env[name];
    if (value === undefined) throw new Error(`local mode has no value for ${name} (${functionName})`);
    own[name] = value;
  }
  return { AWS_LAMBDA_FUNCTION_NAME: functionName, POWERTOOLS_SERVICE_NAME: functionName, ...own };
}

/**
 * Gives this process the environment of `functionName` before its handler is imported: the variables of
 * every other function are removed first, so a variable its contract (and so the stack) does not give it is
 * missing locally too. Handlers read their configuration once at cold start, so each keeps what it read.
 */
export function applyFunctionEnvironment(
  functionName: string,
  env: Readonly<Record<string, string>>,
  target: NodeJS.ProcessEnv = process.env,
): void {
  for (const name of FUNCTION_VARIABLES) delete target[name];
  Object.assign(target, functionEnvironment(functionName, env));
}
