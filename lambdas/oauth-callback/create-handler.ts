import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { deadline, type Deadline } from '../runtime/deadline.js';
import { countFailure } from '../runtime/metrics.js';
import type { OAuthStateStore } from '../oauth/oauth-state.js';
import { describeSmartcarError, TooManyVehiclesError } from '../smartcar/errors.js';
import type { SmartcarGateway, TokenSet, VehicleInfo } from '../smartcar/gateway.js';
import {
  SECRET_NOT_CONFIGURED_METRIC,
  SecretNotConfiguredError,
  type SmartcarSecretSource,
} from '../smartcar/secret.js';
import type { TokenStore } from '../tokens/token-store.js';
import { problem, redirect, withQuery } from '../runtime/http.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import type { SubscriptionScheduler } from '../subscriptions/scheduler.js';
import { GrantNotStoredError, persistConnection } from './persist.js';
import { connectErrorReason, parseCallbackQuery, type FailureReason } from './query.js';

export interface CallbackDeps {
  readonly states: OAuthStateStore;
  readonly smartcar: SmartcarGateway;
  /** Checked before the state is consumed: with the placeholder secret no Connect can succeed. */
  readonly secret: SmartcarSecretSource;
  readonly tokens: TokenStore;
  readonly links: VehicleLinkStore;
  /**
   * Reads the permissions the owner granted (Smartcar `GET /vehicles/{id}/permissions`), stored on the grant
   * for the command Lambda. Optional: without it (or when it fails) the grant is stored without them.
   */
  readonly grantedPermissions?: (
    accessToken: string,
    vehicleId: string,
    limit: Deadline,
  ) => Promise<readonly string[]>;
  /**
   * Queues the webhook subscriptions of the linked vehicles (lambdas/subscriptions/scheduler.ts); absent = none
   * configured. Called once the vehicles are linked, and only queues: the owner's redirect stays fast.
   */
  readonly subscriptions?: Pick<SubscriptionScheduler, 'onLinked'>;
  readonly successUrl: string;
  readonly failureUrl: string;
  /** Limit of each Smartcar call (further cut to the invocation's remaining time). */
  readonly smartcarTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/**
 * Time kept back from the Smartcar calls for storing the result and answering. Without it a slow Smartcar
 * could use up the invocation and the owner would get API Gateway's 503 instead of our redirect.
 */
export const STORAGE_RESERVE_MS = 5_000;
/** Used when the context gives no remaining time (tests calling the factory without a Lambda context). */
const DEFAULT_REMAINING_MS = 25_000;

class Failure extends Error {
  constructor(
    readonly reason: FailureReason,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

interface SmartcarResult {
  readonly tokens: TokenSet;
  readonly smartcarUserId: string;
  readonly vehicles: VehicleInfo[];
  readonly permissions?: readonly string[];
}

/**
 * GET /oauth/callback: Smartcar Connect sends the vehicle owner's browser here. Until the Smartcar secret is
 * set (it holds the stack's placeholder) the answer is 503 `not_configured`; otherwise always a 302 to
 * CONNECT_SUCCESS_URL or CONNECT_FAILURE_URL (never a 5xx page): `?status=connected&vehicles=<n>` or
 * `?reason=<code>` from a closed list. Nothing from the request (code, state, error_description) is logged,
 * echoed or stored; tokens exist only in memory until KMS has encrypted them.
 */
export function createCallbackHandler(deps: CallbackDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  function fail(
    reason: FailureReason,
    fields: Record<string, unknown> = {},
  ): APIGatewayProxyStructuredResultV2 {
    countFailure(metrics, 'ConnectFailed', reason);
    logger.info('Connect failed', { reason, ...fields });
    return redirect(withQuery(deps.failureUrl, { reason }));
  }

  /**
   * One read per grant, not per vehicle: the owner approves one permission list in Connect for every vehicle
   * of the authorization. A failure only costs the command Lambda a read of its own later.
   */
  async function readPermissions(
    accessToken: string,
    vehicleId: string | undefined,
    limit: Deadline,
  ): Promise<readonly string[] | undefined> {
    if (!deps.grantedPermissions || vehicleId === undefined) return undefined;
    try {
      return await deps.grantedPermissions(accessToken, vehicleId, limit);
    } catch (error) {
      logger.warn('Could not read the granted permissions', { smartcarError: describeSmartcarError(error) });
      return undefined;
    }
  }

  async function callSmartcar(code: string, limit: Deadline): Promise<SmartcarResult> {
    let tokens: TokenSet;
    try {
      tokens = await deps.smartcar.exchangeCode(code, limit);
    } catch (error) {
      logger.warn('Code exchange failed', { smartcarError: describeSmartcarError(error) });
      throw new Failure('exchange_failed', { cause: error });
    }
    try {
      const [vehicleIds, smartcarUserId] = await Promise.all([
        deps.smartcar.listVehicleIds(tokens.accessToken, limit),
        deps.smartcar.getUserId(tokens.accessToken, limit),
      ]);
      const usable = vehicleIds.filter((id) => isValidVehicleId(id));
      if (usable.length < vehicleIds.length) {
        logger.error('Smartcar returned vehicle ids we cannot store', {
          skipped: vehicleIds.length - usable.length,
        });
      }
      const [vehicles, permissions] = await Promise.all([
        deps.smartcar.vehicleAttributes(tokens.accessToken, usable, limit),
        readPermissions(tokens.accessToken, usable[0], limit),
      ]);
      return { tokens, smartcarUserId, vehicles, ...(permissions && { permissions }) };
    } catch (error) {
      if (error instanceof TooManyVehiclesError) throw new Failure('too_many_vehicles', { cause: error });
      logger.warn('Smartcar call after the exchange failed', { smartcarError: describeSmartcarError(error) });
      throw new Failure('smartcar_unavailable', { cause: error });
    }
  }

  async function handleRequest(
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const startedAt = now();
    const remaining =
      typeof context?.getRemainingTimeInMillis === 'function'
        ? context.getRemainingTimeInMillis()
        : DEFAULT_REMAINING_MS;
    const limit = deadline({
      perCallMs: deps.smartcarTimeoutMs,
      endsAt: startedAt + remaining - STORAGE_RESERVE_MS,
      now,
    });

    // Fail closed while the secret holds the stack's placeholder, before a single-use state is spent. Any
    // other read failure is left to the exchange below, which reports it to the owner as usual.
    try {
      await deps.secret.get();
    } catch (error) {
      if (error instanceof SecretNotConfiguredError) {
        metrics.addMetric(SECRET_NOT_CONFIGURED_METRIC, MetricUnit.Count, 1);
        logger.error('The Smartcar secret still holds the placeholder; Connect is unavailable', {
          fields: error.fields,
        });
        return problem(503, 'not_configured', 'Smartcar Connect is not configured yet');
      }
    }

    const query = parseCallbackQuery(event);
    if (query.state === undefined || query.repeated.includes('state')) return fail('invalid_state');

    let state;
    try {
      state = await deps.states.consume(query.state, startedAt);
    } catch (error) {
      logger.error('Could not read the OAuth state', { error: error as Error });
      return fail('temporarily_unavailable');
    }
    // Unknown, expired, already used or another flow: stop before anything reaches Smartcar.
    if (state === undefined) return fail('invalid_state');
    const { appUserId } = state;

    if (query.repeated.length > 0) return fail('invalid_request', { appUserId });
    if (query.error !== undefined) {
      // Only the documented code (never error_description, which is free text from the URL).
      return fail(connectErrorReason(query.error), { appUserId });
    }
    if (query.code === undefined) return fail('missing_code', { appUserId });

    let result: SmartcarResult;
    try {
      result = await callSmartcar(query.code, limit);
    } catch (error) {
      if (error instanceof Failure) return fail(error.reason, { appUserId });
      throw error;
    }
    if (result.vehicles.length === 0) return fail('no_vehicles', { appUserId });

    try {
      const stored = await persistConnection(
        { tokens: deps.tokens, links: deps.links, logger },
        {
          appUserId,
          smartcarUserId: result.smartcarUserId,
          scopes: state.scopes,
          ...(result.permissions && { permissions: result.permissions }),
          tokens: result.tokens,
          vehicles: result.vehicles,
          now: now(),
        },
      );
      if (stored.cleanupFailed > 0)
        metrics.addMetric('GrantCleanupFailed', MetricUnit.Count, stored.cleanupFailed);
      if (stored.failed > 0) {
        logger.error('Connect stored only partly', {
          appUserId,
          grantId: stored.grantId,
          linked: stored.linked,
          failed: stored.failed,
        });
        return fail('storage_failed', { appUserId, grantId: stored.grantId });
      }
      // Linked is linked: a vehicle whose subscription could not be queued stays PENDING, for a re-run.
      if (deps.subscriptions) await deps.subscriptions.onLinked(stored.linkedVehicleIds);
      metrics.addMetric('ConnectSucceeded', MetricUnit.Count, 1);
      metrics.addMetric('VehiclesConnected', MetricUnit.Count, stored.linked);
      logger.info('Connect succeeded', {
        appUserId,
        grantId: stored.grantId,
        vehicles: stored.linked,
        durationMs: now() - startedAt,
      });
      return redirect(withQuery(deps.successUrl, { status: 'connected', vehicles: String(stored.linked) }));
    } catch (error) {
      // Our storage failed after Smartcar issued tokens: loud, because the owner must connect again.
      logger.error('Could not store the Connect result', {
        appUserId,
        stage: error instanceof GrantNotStoredError ? 'grant' : 'links',
        error: (error instanceof GrantNotStoredError ? error.cause : error) as Error,
      });
      return fail('storage_failed', { appUserId });
    }
  }

  const guarded = async (event: APIGatewayProxyEventV2, context: Context) => {
    try {
      return await handleRequest(event, context);
    } catch (error) {
      // Never a 5xx page for the vehicle owner.
      logger.error('Unexpected callback failure', { error: error as Error });
      return fail('temporarily_unavailable');
    }
  };

  // logEvent: false whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries the code and the state.
  return middy(guarded)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics));
}
