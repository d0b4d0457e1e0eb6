/**
 * The Lambda functions, declared once: what the stack deploys (lib/features/*), what local mode runs
 * (local/runtime/functions.ts, local/runtime/lambda-env.ts) and what each function's config loader reads
 * (lambdas/<function>/config.ts, whose schema keys are checked against `environment` + `optionalEnvironment`).
 * Pure data: no aws-cdk-lib, no AWS SDK.
 */

export type RouteAuth = 'iam' | 'none';
export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export const WEBHOOK_PATH = '/webhooks/smartcar';
export const VEHICLE_PATH = '/vehicles/{vehicleId}';
export const VEHICLES_PATH = '/vehicles';
export const CONNECT_PATH = '/connect';
export const OAUTH_CALLBACK_PATH = '/oauth/callback';
export const VEHICLE_COMMANDS_PATH = '/vehicles/{vehicleId}/commands';
export const VEHICLE_SUBSCRIPTIONS_PATH = '/vehicles/{vehicleId}/subscriptions';
/**
 * Receives of a subscribe message before SQS dead-letters it (the queue's maxReceiveCount) = the worker's
 * SUBSCRIPTION_MAX_ATTEMPTS: with the back-off (2 s doubling) about 8 minutes of retries.
 */
export const SUBSCRIPTION_MAX_ATTEMPTS = 8;
export const CONNECT_CONFIRM_PATH = '/connect/{connectId}/confirm';
export const USER_PATH = '/users/{userId}';

export interface RouteContract {
  readonly method: HttpMethod;
  readonly path: string;
  /**
   * How the route is authorized in AWS (lib/constructs/smartcar-http-api.ts): `iam` = SigV4. Locally NOTHING
   * is enforced: the banner lists the `iam` routes as open.
   */
  readonly auth: RouteAuth;
}

export interface FunctionContract {
  /** The handler file (exports `handler`), relative to the repository root. */
  readonly entry: string;
  /** POWERTOOLS_SERVICE_NAME (the `service` of logs and metrics); locally also the function name. */
  readonly serviceName: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /** HTTP API routes integrated with this function (one Lambda behind all of them). */
  readonly routes: readonly RouteContract[];
  /** The variables the stack sets (names and ARNs of what the function uses, and its settings). */
  readonly environment: readonly string[];
  /**
   * Variables the config loader also reads but that have a default and that the stack does not set
   * (tuning knobs, and the origins local mode and tests point at fakes).
   */
  readonly optionalEnvironment: readonly string[];
}

/**
 * Processor batches in flight at once unless the `processorMaxConcurrency` context says otherwise: the SQS event
 * source mapping's maximum concurrency in AWS, the poll loops of local mode.
 */
export const DEFAULT_PROCESSOR_MAX_CONCURRENCY = 5;

/** `"<METHOD> <path>"`, as API Gateway HTTP APIs (and local mode) key routes. */
export const routeKey = (route: RouteContract): string => `${route.method} ${route.path}`;

export const FUNCTIONS = {
  receiver: {
    entry: 'lambdas/webhook-receiver/handler.ts',
    serviceName: 'webhook-receiver',
    description: 'Smartcar webhook receiver: verifies the HMAC signature and queues the raw event',
    // Small: it hashes one body and sends one SQS message.
    memorySize: 256,
    // Well inside Smartcar's 15 s delivery timeout, so a slow call fails (and Smartcar retries)
    // rather than having Smartcar give up while we are still working.
    timeoutSeconds: 10,
    // Authenticated by the SC-Signature HMAC, checked by the handler.
    routes: [{ method: 'POST', path: WEBHOOK_PATH, auth: 'none' }],
    environment: ['QUEUE_URL', 'SMARTCAR_SECRET_ID', 'MAX_BODY_BYTES'],
    // Only with the edge front on (see contracts/edge.ts).
    optionalEnvironment: ['EDGE_ORIGIN_SECRET_ID'],
  },
  processor: {
    entry: 'lambdas/webhook-processor/handler.ts',
    serviceName: 'webhook-processor',
    description: 'Smartcar webhook processor: applies queued events to the vehicle-state table',
    // Parses up to 10 events with many signals each and merges them per vehicle; more memory also
    // means proportionally more CPU.
    memorySize: 512,
    // The queue's visibility timeout is derived from it (× 6).
    timeoutSeconds: 30,
    routes: [],
    environment: [
      'VEHICLE_TABLE_NAME',
      'TEST_EVENTS',
      'DEDUPE_TTL_SECONDS',
      // Lock/charging reports confirm sent vehicle commands (set by lib/features/vehicle-commands.ts).
      'COMMAND_AUDIT_TABLE_NAME',
    ],
    optionalEnvironment: ['RAW_EVENT_TTL_DAYS'],
  },
  vehicleRead: {
    entry: 'lambdas/vehicle-read/handler.ts',
    serviceName: 'vehicle-read',
    description: "Vehicle state read API: one vehicle's stored state, or an app user's linked vehicles",
    memorySize: 256,
    // A few key lookups; API Gateway would give up after 30 s anyway.
    timeoutSeconds: 10,
    // `GET /vehicles/{vehicleId}` and `GET /vehicles?userId=`: the handler dispatches on the route key.
    routes: [
      { method: 'GET', path: VEHICLE_PATH, auth: 'iam' },
      { method: 'GET', path: VEHICLES_PATH, auth: 'iam' },
    ],
    environment: ['VEHICLE_TABLE_NAME'],
    optionalEnvironment: [],
  },
  oauthConnect: {
    entry: 'lambdas/oauth-connect/handler.ts',
    serviceName: 'oauth-connect',
    description: 'OAuth connect: creates a single-use state and returns the Smartcar Connect URL',
    memorySize: 256,
    // One secret read (cached) and one PutItem.
    timeoutSeconds: 10,
    routes: [{ method: 'POST', path: CONNECT_PATH, auth: 'iam' }],
    environment: [
      'OAUTH_STATE_TABLE_NAME',
      'SMARTCAR_SECRET_ID',
      'SMARTCAR_REDIRECT_URI',
      'SMARTCAR_MODE',
      'SMARTCAR_DEFAULT_SCOPES',
      'REQUIRE_HTTPS_URLS',
    ],
    optionalEnvironment: [],
  },
  oauthCallback: {
    entry: 'lambdas/oauth-callback/handler.ts',
    // Also the `service` dimension of its ConnectFailed metric.
    serviceName: 'oauth-callback',
    description:
      'OAuth callback: consumes the state, exchanges the code and stores the grant, pending its confirmation',
    // Smartcar calls (token exchange, user, vehicle list) plus KMS and DynamoDB (and with confirmation off the
    // link transactions per vehicle): more memory also means more CPU and network throughput.
    memorySize: 512,
    // API Gateway HTTP APIs give up on an integration after 30 s, so the Lambda must finish (and redirect the
    // owner's browser to the failure page) before that, never leave it on a 503.
    timeoutSeconds: 29,
    // Smartcar's redirect URI: public, protected by the single-use `state`.
    routes: [{ method: 'GET', path: OAUTH_CALLBACK_PATH, auth: 'none' }],
    environment: [
      'OAUTH_STATE_TABLE_NAME',
      'TOKEN_TABLE_NAME',
      'TOKEN_KEY_ID',
      'VEHICLE_TABLE_NAME',
      'SMARTCAR_SECRET_ID',
      'SMARTCAR_REDIRECT_URI',
      'CONNECT_SUCCESS_URL',
      'CONNECT_FAILURE_URL',
      'REQUIRE_HTTPS_URLS',
      // Which webhooks a linked vehicle is subscribed to, and the queue the subscriptions go through.
      'SMARTCAR_WEBHOOK_IDS',
      'SUBSCRIPTION_QUEUE_URL',
      'CONNECT_CONFIRMATION',
      'CONNECT_CONFIRM_MINUTES',
    ],
    // The management origin: a grant that could not be stored has its new connections revoked at once.
    // EDGE_ORIGIN_SECRET_ID only with the edge front on (see contracts/edge.ts).
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_MANAGEMENT_API_ORIGIN', 'EDGE_ORIGIN_SECRET_ID'],
  },
  connectConfirm: {
    entry: 'lambdas/connect-confirm/handler.ts',
    serviceName: 'connect-confirm',
    description:
      "Connect confirmation API: links a pending connect's vehicles for the app user who started it",
    memorySize: 256,
    // One transaction per vehicle, and a Management API call per vehicle that moves from another user.
    timeoutSeconds: 15,
    routes: [{ method: 'POST', path: CONNECT_CONFIRM_PATH, auth: 'iam' }],
    // The confirm links the vehicles: it subscribes them (SMARTCAR_WEBHOOK_IDS through SUBSCRIPTION_QUEUE_URL).
    environment: [
      'TOKEN_TABLE_NAME',
      'VEHICLE_TABLE_NAME',
      'SMARTCAR_SECRET_ID',
      'SMARTCAR_WEBHOOK_IDS',
      'SUBSCRIPTION_QUEUE_URL',
    ],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_MANAGEMENT_API_ORIGIN'],
  },
  connectExpiry: {
    entry: 'lambdas/connect-expiry/handler.ts',
    serviceName: 'connect-expiry',
    description: 'Connect expiry job: revokes and deletes pending connects nobody confirmed in time',
    memorySize: 256,
    // A handful of pending grants per run, each a few Management API calls.
    timeoutSeconds: 120,
    routes: [],
    // The token key, decrypt only: the access token of a pending connect whose vehicles are unknown.
    environment: ['TOKEN_TABLE_NAME', 'TOKEN_KEY_ID', 'VEHICLE_TABLE_NAME', 'SMARTCAR_SECRET_ID'],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_MANAGEMENT_API_ORIGIN'],
  },
  connectionReconcile: {
    entry: 'lambdas/connection-reconcile/handler.ts',
    serviceName: 'connection-reconcile',
    description: "Reconciliation job: compares Smartcar's connections with the grants, daily",
    // Holds every grant's metadata and every connection's ids in memory (~200 bytes per connection).
    memorySize: 512,
    // Pages of 100 connections (one request each) and a Scan of the token table: 15 minutes, Lambda's
    // maximum, covers far more than 100,000 connections.
    timeoutSeconds: 900,
    routes: [],
    environment: ['TOKEN_TABLE_NAME', 'VEHICLE_TABLE_NAME', 'SMARTCAR_SECRET_ID', 'RECONCILE_REVOKE_ORPHANS'],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_MANAGEMENT_API_ORIGIN'],
  },
  vehicleDisconnect: {
    entry: 'lambdas/vehicle-disconnect/handler.ts',
    serviceName: 'vehicle-disconnect',
    description: "Vehicle disconnect API: revokes one vehicle's Smartcar connection, or all of an app user's",
    memorySize: 256,
    // A few Smartcar Management API calls and transactions per vehicle; API Gateway gives up after 30 s
    // (a user removal with many vehicles that runs out answers 5xx, and a retry continues).
    timeoutSeconds: 29,
    // One function: a user removal is a disconnect of each of the user's vehicles.
    routes: [
      { method: 'DELETE', path: VEHICLE_PATH, auth: 'iam' },
      { method: 'DELETE', path: USER_PATH, auth: 'iam' },
    ],
    environment: ['TOKEN_TABLE_NAME', 'VEHICLE_TABLE_NAME', 'SMARTCAR_SECRET_ID'],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_MANAGEMENT_API_ORIGIN'],
  },
  tokenRefresh: {
    entry: 'lambdas/token-refresh/handler.ts',
    // Also the `service` dimension of its TokenRefresh* metrics.
    serviceName: 'token-refresh',
    description: 'Token refresh job: rotates the Smartcar tokens of due grants, on a schedule',
    // Up to REFRESH_CONCURRENCY refreshes in flight, each with TLS to Smartcar, KMS and DynamoDB: more
    // memory also means more CPU and network throughput.
    memorySize: 512,
    // A run handles up to ~1,000 due grants at REFRESH_CONCURRENCY 10: 100 rounds of claim, decrypt, Smartcar
    // token exchange, two encrypts and the conditional write, about 1-2 s each, so 100-200 s; 5 minutes leave
    // room for Retry-After waits and backoff. Due grants a run has no time left for are left to the next run
    // (the job stops starting refreshes near its deadline, so it claims nothing it cannot finish). The last
    // refresh started gets at least 60 s, enough to ride out a 30 s DynamoDB/KMS outage before it parks its
    // pair (MIN_TIME_TO_START_MS, docs/design.md "A rotated pair that cannot be stored"). Schedules may not
    // run more often than this, so scheduled runs never overlap.
    timeoutSeconds: 300,
    routes: [],
    environment: [
      'TOKEN_TABLE_NAME',
      'TOKEN_KEY_ID',
      'VEHICLE_TABLE_NAME',
      'SMARTCAR_SECRET_ID',
      // The smartcar SDK's AuthClient requires one, although a refresh-token exchange does not send it.
      'SMARTCAR_REDIRECT_URI',
      'REFRESH_WINDOW_DAYS',
      'ACCESS_WARM_WINDOW_MINUTES',
      'REFRESH_CONCURRENCY',
      'REFRESH_LEASE_SECONDS',
      // Rotated pairs that could not be stored; the next run applies them first (docs/design.md, "Failures").
      'TOKEN_RECOVERY_QUEUE_URL',
    ],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS'],
  },
  vehicleCommand: {
    entry: 'lambdas/vehicle-command/handler.ts',
    // Also the `service` dimension of its CommandOutcomeUnknown metric (the UNKNOWN-spike alarm).
    serviceName: 'vehicle-command',
    description: 'Vehicle commands: lock, unlock and charging through the stored grant, with an audit trail',
    // TLS to Smartcar, KMS and DynamoDB per request; the latency is Smartcar's, not CPU.
    memorySize: 256,
    // Below API Gateway's 30 s integration limit, so that our answer (502 + audit UNKNOWN after a Smartcar
    // timeout) always reaches the caller instead of API Gateway's 503. Commands take seconds to tens of seconds
    // on some brands: the command call gets up to SMARTCAR_COMMAND_TIMEOUT_MS (24 s), cut to what is left
    // after the access token (usually no call, ≤ 8 s for a refresh) minus 3 s for the audit write and answer.
    timeoutSeconds: 28,
    routes: [
      { method: 'POST', path: VEHICLE_COMMANDS_PATH, auth: 'iam' },
      { method: 'GET', path: VEHICLE_COMMANDS_PATH, auth: 'iam' },
    ],
    environment: [
      'VEHICLE_TABLE_NAME',
      'TOKEN_TABLE_NAME',
      'TOKEN_KEY_ID',
      'COMMAND_AUDIT_TABLE_NAME',
      'COMMAND_AUDIT_DAYS',
      'SMARTCAR_SECRET_ID',
      // getAccessToken may refresh an expiring access token; the SDK's AuthClient requires one.
      'SMARTCAR_REDIRECT_URI',
      // Where such a refresh parks a rotated pair it could not store (the refresh job applies it first).
      'TOKEN_RECOVERY_QUEUE_URL',
    ],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS', 'SMARTCAR_COMMAND_TIMEOUT_MS'],
  },
  subscriptionWorker: {
    entry: 'lambdas/subscription-worker/handler.ts',
    // Also the `service` dimension of its Subscriptions* metrics.
    serviceName: 'subscription-worker',
    description:
      'Webhook subscription worker: subscribes queued vehicles to the configured Smartcar webhooks',
    memorySize: 256,
    // Up to 10 messages, 5 at a time, each an access-token read (maybe a refresh) and one Smartcar call.
    timeoutSeconds: 60,
    routes: [],
    environment: [
      'VEHICLE_TABLE_NAME',
      'TOKEN_TABLE_NAME',
      'TOKEN_KEY_ID',
      'SMARTCAR_SECRET_ID',
      // For the AuthClient that refreshes an access token that is about to expire.
      'SMARTCAR_REDIRECT_URI',
      'SUBSCRIPTION_QUEUE_URL',
      'SUBSCRIPTION_MAX_ATTEMPTS',
      // Where a refresh parks a rotated pair it could not store (the refresh job applies it first).
      'TOKEN_RECOVERY_QUEUE_URL',
    ],
    optionalEnvironment: ['SMARTCAR_TIMEOUT_MS'],
  },
  vehicleSubscriptions: {
    entry: 'lambdas/vehicle-subscriptions/handler.ts',
    serviceName: 'vehicle-subscriptions',
    description: 'Re-runs the webhook subscriptions of one vehicle (API) or of every linked vehicle (job)',
    memorySize: 256,
    // The all-vehicles job pages through every linked profile, queueing 10 messages per request.
    timeoutSeconds: 300,
    routes: [{ method: 'POST', path: VEHICLE_SUBSCRIPTIONS_PATH, auth: 'iam' }],
    environment: ['VEHICLE_TABLE_NAME', 'SMARTCAR_WEBHOOK_IDS', 'SUBSCRIPTION_QUEUE_URL'],
    optionalEnvironment: [],
  },
} as const satisfies Record<string, FunctionContract>;

export type FunctionId = keyof typeof FUNCTIONS;
export const FUNCTION_IDS = Object.keys(FUNCTIONS) as FunctionId[];

/** The variables the stack sets for function `F`. */
export type EnvironmentOf<F extends FunctionId> = (typeof FUNCTIONS)[F]['environment'][number];
/** Every variable function `F`'s config loader reads: its schema must have exactly these keys. */
export type ConfigVariablesOf<F extends FunctionId> =
  EnvironmentOf<F> | (typeof FUNCTIONS)[F]['optionalEnvironment'][number];
/** Any variable the stack sets for some function. */
export type FunctionVariable = EnvironmentOf<FunctionId>;

/** Every variable the stack sets for some function (the names local mode clears before each cold start). */
export const FUNCTION_VARIABLES: readonly FunctionVariable[] = [
  ...new Set(FUNCTION_IDS.flatMap((id) => FUNCTIONS[id].environment)),
];
