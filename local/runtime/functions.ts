import type { APIGatewayProxyHandlerV2, Handler, ScheduledEvent, SQSHandler } from 'aws-lambda';
import { FUNCTIONS, routeKey, type FunctionId, type RouteAuth } from '../../contracts/index.js';

/**
 * The Lambda functions local mode runs, and how they are wired: the local counterpart of the stack's
 * routes and event source mapping. Names, timeouts, memory and routes come from contracts/functions.ts, as
 * the stack's do: a new HTTP route is one entry in the `routes` of its function's contract (a function serving
 * several routes is one Lambda, dispatching on `routeKey`).
 *
 * `load` is a dynamic import, called only after local mode has set the environment the handler reads at
 * cold start. The literal paths let the compiler check that each module exports a `handler` of the right
 * Lambda type.
 */

/** Settings the stack gives each function (contracts/functions.ts); locally they shape the Lambda context. */
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

export type { RouteAuth };

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
  /**
   * File URL of the same module `load` imports. When set, the function and its poller run in a worker
   * thread of their own (local/runtime/sqs-poller-thread.ts), as Lambda runs them apart from the API, and
   * `load` is not called; without it (a handler built in this process, as tests and drills do) they share
   * this process's event loop.
   * @default undefined (in-process)
   */
  readonly handlerModule?: string;
}

export interface ScheduledFunction extends FunctionSettings {
  /** Name of the EventBridge rule that triggers it in AWS. */
  readonly ruleName: string;
  /** Route that runs it once on demand (local only): `POST /local/jobs/<job>`, body `{"time":"<ISO-8601>"}`. */
  readonly runRouteKey: string;
  readonly load: () => Promise<{ handler: Handler<ScheduledEvent, unknown> }>;
}

/** A scheduled job local mode runs on its own timer (not the token refresh's variable) and on demand. */
export interface LocalScheduledJob extends ScheduledFunction {
  /** 0: only on demand. */
  readonly intervalMs: number;
}

export interface LocalFunctions {
  readonly http: readonly HttpFunction[];
  /** Consumes the webhook queue with event-source-mapping semantics. */
  readonly webhookProcessor: QueueFunction;
  /** Consumes the subscription queue, as its event source mapping does. */
  readonly subscriptionWorker?: QueueFunction;
  /** Runs on the schedule (LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES) and on demand. */
  readonly tokenRefresh: ScheduledFunction;
  /** The connection life-cycle jobs (connect expiry, reconciliation). @default none */
  readonly connectionJobs?: readonly LocalScheduledJob[];
}

/** Name, timeout, memory and routes of a function, from its contract (the same the stack deploys). */
function settingsOf(id: FunctionId): FunctionSettings & { readonly routes: readonly HttpRoute[] } {
  const contract = FUNCTIONS[id];
  return {
    name: contract.serviceName,
    timeoutSeconds: contract.timeoutSeconds,
    memoryMB: contract.memorySize,
    routes: contract.routes.map((route) => ({ routeKey: routeKey(route), auth: route.auth })),
  };
}

export const LOCAL_FUNCTIONS: LocalFunctions = {
  http: [
    { ...settingsOf('receiver'), load: () => import('../../lambdas/webhook-receiver/handler.js') },
    { ...settingsOf('vehicleRead'), load: () => import('../../lambdas/vehicle-read/handler.js') },
    { ...settingsOf('oauthConnect'), load: () => import('../../lambdas/oauth-connect/handler.js') },
    { ...settingsOf('oauthCallback'), load: () => import('../../lambdas/oauth-callback/handler.js') },
    {
      ...settingsOf('vehicleDisconnect'),
      load: () => import('../../lambdas/vehicle-disconnect/handler.js'),
    },
    { ...settingsOf('vehicleCommand'), load: () => import('../../lambdas/vehicle-command/handler.js') },
    {
      ...settingsOf('vehicleSubscriptions'),
      load: () => import('../../lambdas/vehicle-subscriptions/handler.js'),
    },
    { ...settingsOf('connectConfirm'), load: () => import('../../lambdas/connect-confirm/handler.js') },
  ],
  webhookProcessor: {
    ...settingsOf('processor'),
    load: () => import('../../lambdas/webhook-processor/handler.js'),
    handlerModule: new URL('../../lambdas/webhook-processor/handler.js', import.meta.url).href,
  },
  subscriptionWorker: {
    ...settingsOf('subscriptionWorker'),
    load: () => import('../../lambdas/subscription-worker/handler.js'),
  },
  tokenRefresh: {
    ...settingsOf('tokenRefresh'),
    ruleName: 'token-refresh-schedule',
    runRouteKey: 'POST /local/jobs/token-refresh',
    load: () => import('../../lambdas/token-refresh/handler.js'),
  },
  connectionJobs: [
    {
      ...settingsOf('connectExpiry'),
      ruleName: 'connect-expiry-schedule',
      runRouteKey: 'POST /local/jobs/expire-connects',
      // Every minute locally (the stack: every 5), so a short CONNECT_CONFIRM_MINUTES is seen soon.
      intervalMs: 60_000,
      load: () => import('../../lambdas/connect-expiry/handler.js'),
    },
    {
      ...settingsOf('connectionReconcile'),
      ruleName: 'connection-reconcile-schedule',
      runRouteKey: 'POST /local/jobs/reconcile',
      // Daily in the stack; locally on demand only.
      intervalMs: 0,
      load: () => import('../../lambdas/connection-reconcile/handler.js'),
    },
  ],
};
