import type { APIGatewayProxyHandlerV2, Handler, ScheduledEvent, SQSHandler } from 'aws-lambda';

/**
 * The Lambda functions local mode runs, and how they are wired: the local counterpart of the stack's
 * routes and event source mapping. A new HTTP route is one entry in the `routes` of a function of
 * `LOCAL_FUNCTIONS.http` (a function serving several routes is one Lambda, dispatching on `routeKey`).
 *
 * `load` is a dynamic import, called only after local mode has set the environment the handler reads at
 * cold start. The literal paths let the compiler check that each module exports a `handler` of the right
 * Lambda type.
 */

/** Settings the stack gives each function (lib/smartcar-stack.ts); locally they shape the Lambda context. */
interface FunctionSettings {
  /** Function name locally: context.functionName, AWS_LAMBDA_FUNCTION_NAME and POWERTOOLS_SERVICE_NAME. */
  readonly name: string;
  /** @default 10 (the stack's HTTP functions) */
  readonly timeoutSeconds?: number;
  /** @default 256 */
  readonly memoryMB?: number;
}

export const DEFAULT_TIMEOUT_SECONDS = 10;
export const DEFAULT_MEMORY_MB = 256;

/**
 * How the route is authorized in AWS (lib/constructs/smartcar-http-api.ts). Locally NOTHING is enforced: the
 * banner lists the `iam` routes as open.
 */
export type RouteAuth = 'iam' | 'none';

export interface HttpRoute {
  /** Route key as in the HTTP API: `"<METHOD> <path>"`. */
  readonly routeKey: string;
  readonly auth: RouteAuth;
}

export interface HttpFunction extends FunctionSettings {
  /** The routes integrated with this function (one Lambda behind all of them, as in the stack). */
  readonly routes: readonly HttpRoute[];
  readonly load: () => Promise<{ handler: APIGatewayProxyHandlerV2 }>;
}

export interface QueueFunction extends FunctionSettings {
  readonly load: () => Promise<{ handler: SQSHandler }>;
}

export interface ScheduledFunction extends FunctionSettings {
  /** Name of the EventBridge rule that triggers it in AWS. */
  readonly ruleName: string;
  /** Route that runs it once on demand (local only): `POST /local/jobs/<job>`, body `{"time":"<ISO-8601>"}`. */
  readonly runRouteKey: string;
  readonly load: () => Promise<{ handler: Handler<ScheduledEvent, unknown> }>;
}

export interface LocalFunctions {
  readonly http: readonly HttpFunction[];
  /** Consumes the webhook queue with event-source-mapping semantics. */
  readonly webhookProcessor: QueueFunction;
  /** Runs on the schedule (LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES) and on demand. */
  readonly tokenRefresh: ScheduledFunction;
}

// Timeouts and memory as in lib/smartcar-stack.ts (not imported: that would load aws-cdk-lib at start-up).
export const LOCAL_FUNCTIONS: LocalFunctions = {
  http: [
    {
      // Authenticated by the SC-Signature HMAC, checked by the handler.
      routes: [{ routeKey: 'POST /webhooks/smartcar', auth: 'none' }],
      name: 'webhook-receiver',
      timeoutSeconds: 10,
      memoryMB: 256,
      load: () => import('../../lambdas/webhook-receiver/handler.js'),
    },
    {
      routes: [
        { routeKey: 'GET /vehicles/{vehicleId}', auth: 'iam' },
        { routeKey: 'GET /vehicles', auth: 'iam' },
      ],
      name: 'vehicle-read',
      timeoutSeconds: 10,
      memoryMB: 256,
      load: () => import('../../lambdas/vehicle-read/handler.js'),
    },
    {
      routes: [{ routeKey: 'POST /connect', auth: 'iam' }],
      name: 'oauth-connect',
      timeoutSeconds: 10,
      memoryMB: 256,
      load: () => import('../../lambdas/oauth-connect/handler.js'),
    },
    {
      // Smartcar's redirect URI: public, protected by the single-use `state`.
      routes: [{ routeKey: 'GET /oauth/callback', auth: 'none' }],
      name: 'oauth-callback',
      timeoutSeconds: 29,
      memoryMB: 512,
      load: () => import('../../lambdas/oauth-callback/handler.js'),
    },
    {
      routes: [{ routeKey: 'DELETE /vehicles/{vehicleId}', auth: 'iam' }],
      name: 'vehicle-disconnect',
      timeoutSeconds: 15,
      memoryMB: 256,
      load: () => import('../../lambdas/vehicle-disconnect/handler.js'),
    },
  ],
  webhookProcessor: {
    name: 'webhook-processor',
    timeoutSeconds: 30,
    memoryMB: 512,
    load: () => import('../../lambdas/webhook-processor/handler.js'),
  },
  tokenRefresh: {
    name: 'token-refresh',
    ruleName: 'token-refresh-schedule',
    runRouteKey: 'POST /local/jobs/token-refresh',
    timeoutSeconds: 300,
    memoryMB: 512,
    load: () => import('../../lambdas/token-refresh/handler.js'),
  },
};
