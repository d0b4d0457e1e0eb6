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
import type { SmartcarGateway, TokenSet } from '../smartcar/gateway.js';
import {
  SECRET_NOT_CONFIGURED_METRIC,
  SecretNotConfiguredError,
  type SmartcarSecretSource,
} from '../smartcar/secret.js';
import type { TokenStore } from '../tokens/token-store.js';
import { refuseUnlessViaEdge, type OriginLock } from '../edge/origin-lock.js';
import { problem, redirect, withQuery } from '../runtime/http.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import { confirmConnect } from '../connections/confirm.js';
import type { ConnectionDeps } from '../connections/deps.js';
import { NO_CONNECTION_HOOKS, type ConnectionHooks } from '../connections/hooks.js';
import { connectionInUse, revokeConnection } from '../connections/revoke.js';
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
  readonly successUrl: string;
  readonly failureUrl: string;
  /**
   * `required` (default): the grant is stored PENDING and the vehicles are linked only by
   * `POST /connect/{connectId}/confirm`; `off`: linked at once, for the user who started the Connect.
   */
  readonly confirmation?: ConnectConfirmation;
  /** How long a pending connect waits for its confirm. @default 15 minutes */
  readonly confirmWindowMs?: number;
  /** @default no hooks */
  readonly hooks?: ConnectionHooks;
  /** Limit of each Smartcar call (further cut to the invocation's remaining time). */
  readonly smartcarTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** With the edge front on: refuses requests that did not come through CloudFront. @default none */
  readonly originLock?: OriginLock;
  readonly now?: () => number;
}

export type ConnectConfirmation = 'required' | 'off';
/** The `connectConfirmMinutes` default. */
export const DEFAULT_CONNECT_CONFIRM_MINUTES = 15;

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

/**
 * GET /oauth/callback: Smartcar Connect sends the vehicle owner's browser here. Until the Smartcar secret is
 * set (it holds the stack's placeholder) the answer is 503 `not_configured`; otherwise always a 302 to
 * CONNECT_SUCCESS_URL or CONNECT_FAILURE_URL (never a 5xx page): `?status=pending&connectId=<id>&vehicles=<n>`
 * (or `status=connected` without confirmation) or `?reason=<code>` from a closed list. Nothing from the request
 * (code, state, error_description) is logged, echoed or stored; tokens exist only in memory until KMS has
 * encrypted them.
 *
 * Smartcar calls: the code exchange, `GET /user`, the vehicle list (one page per 50 vehicles) and, with
 * `grantedPermissions`, one permissions read per grant — no per-vehicle call, so a Connect costs 4 requests of
 * the application's rate limit in the usual case. The grant is stored right after the exchange, before
 * anything else can fail: from then on every failure leaves a stored PENDING grant whose window is cut short,
 * and the expiry job revokes its connections. If storing it fails, the new connections are revoked at once
 * (docs/design.md, "No orphans").
 */
export function createCallbackHandler(deps: CallbackDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const confirmation = deps.confirmation ?? 'required';
  const confirmWindowMs = deps.confirmWindowMs ?? DEFAULT_CONNECT_CONFIRM_MINUTES * 60_000;
  const connections: ConnectionDeps = {
    tokens: deps.tokens,
    links: deps.links,
    smartcar: deps.smartcar,
    hooks: deps.hooks ?? NO_CONNECTION_HOOKS,
    smartcarTimeoutMs: deps.smartcarTimeoutMs,
    logger,
  };

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

  async function exchange(code: string, limit: Deadline): Promise<TokenSet> {
    try {
      return await deps.smartcar.exchangeCode(code, limit);
    } catch (error) {
      logger.warn('Code exchange failed', { smartcarError: describeSmartcarError(error) });
      throw new Failure('exchange_failed', { cause: error });
    }
  }

  async function whoAndWhat(tokens: TokenSet, limit: Deadline) {
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
      return { smartcarUserId, vehicleIds: usable };
    } catch (error) {
      if (error instanceof TooManyVehiclesError) throw new Failure('too_many_vehicles', { cause: error });
      logger.warn('Smartcar call after the exchange failed', { smartcarError: describeSmartcarError(error) });
      throw new Failure('smartcar_unavailable', { cause: error });
    }
  }

  /**
   * The grant could not be stored: its connections would be live at Smartcar with nothing here able to end
   * them. Revoked now with the token still in memory; if even that fails, it is logged loudly and counted
   * (`ConnectOrphaned`), and the reconciliation job reports the connection as unknown.
   */
  async function revokeUnstored(tokens: TokenSet, limit: Deadline, appUserId: string): Promise<void> {
    try {
      const { smartcarUserId, vehicleIds } = await whoAndWhat(tokens, limit);
      for (const vehicleId of vehicleIds) {
        if (await connectionInUse(connections, vehicleId, smartcarUserId, '')) continue;
        await revokeConnection(connections, { vehicleId, smartcarUserId, reason: 'connect_failed' });
      }
    } catch (error) {
      metrics.addMetric('ConnectOrphaned', MetricUnit.Count, 1);
      logger.error('Could not revoke the connection of a Connect that could not be stored', {
        appUserId,
        error: (error instanceof Failure ? error.cause : error) as Error,
      });
    }
  }

  /** Cuts a failed pending connect's window short: the next expiry run revokes it. */
  async function expireNow(grantId: string): Promise<void> {
    try {
      await deps.tokens.expirePendingNow(grantId, now());
    } catch (error) {
      // It still expires at the end of its window.
      logger.error('Could not expire the failed connect early', { grantId, error: error as Error });
    }
  }

  async function handleRequest(
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    if (deps.originLock) {
      // Before the state is looked at: a request around the front must not be able to spend it.
      const refused = await refuseUnlessViaEdge(event, { lock: deps.originLock, logger, metrics });
      if (refused) return refused.statusCode === 403 ? refused : fail('temporarily_unavailable');
    }
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

    let tokens: TokenSet;
    try {
      tokens = await exchange(query.code, limit);
    } catch (error) {
      if (error instanceof Failure) return fail(error.reason, { appUserId });
      throw error;
    }

    // 1. The grant, before any other call can fail: from here on, nothing Smartcar issued is unknown to us.
    let grantId: string;
    try {
      const grant = await deps.tokens.createGrant({
        appUserId,
        scopes: state.scopes,
        tokens,
        now: now(),
        pendingUntil: now() + confirmWindowMs,
      });
      grantId = grant.grantId;
    } catch (error) {
      logger.error('Could not store the Connect result', {
        appUserId,
        stage: 'grant',
        error: error as Error,
      });
      await revokeUnstored(tokens, limit, appUserId);
      return fail('storage_failed', { appUserId });
    }

    // 2. Who connected which vehicles.
    let completion: { smartcarUserId: string; vehicleIds: string[] };
    try {
      completion = await whoAndWhat(tokens, limit);
    } catch (error) {
      await expireNow(grantId);
      if (error instanceof Failure) return fail(error.reason, { appUserId, grantId });
      throw error;
    }
    if (completion.vehicleIds.length === 0) {
      await expireNow(grantId);
      return fail('no_vehicles', { appUserId, grantId });
    }
    // Stored on the grant, so the vehicles the confirm links to it come with what the owner granted.
    const permissions = await readPermissions(tokens.accessToken, completion.vehicleIds[0], limit);
    try {
      await deps.tokens.completePending(
        grantId,
        { ...completion, ...(permissions && { permissions }) },
        now(),
      );
    } catch (error) {
      logger.error('Could not store the Connect result', {
        appUserId,
        grantId,
        stage: 'complete',
        error: error as Error,
      });
      await expireNow(grantId);
      return fail('storage_failed', { appUserId, grantId });
    }
    const vehicles = String(completion.vehicleIds.length);

    const logOutcome = (message: string, vehicleCount: number): void =>
      logger.info(message, { appUserId, grantId, vehicles: vehicleCount, durationMs: now() - startedAt });

    if (confirmation === 'required') {
      metrics.addMetric('ConnectPending', MetricUnit.Count, 1);
      logOutcome('Connect waiting for confirmation', completion.vehicleIds.length);
      return redirect(withQuery(deps.successUrl, { status: 'pending', connectId: grantId, vehicles }));
    }

    // 3. Without confirmation: linked now, for the user who started the Connect.
    try {
      const confirmed = await confirmConnect(connections, { connectId: grantId, appUserId, now: now() });
      if (confirmed.kind !== 'confirmed')
        throw new Error(`the new grant could not be confirmed: ${confirmed.kind}`);
      if (confirmed.cleanupFailed > 0)
        metrics.addMetric('GrantCleanupFailed', MetricUnit.Count, confirmed.cleanupFailed);
      metrics.addMetric('ConnectSucceeded', MetricUnit.Count, 1);
      metrics.addMetric('VehiclesConnected', MetricUnit.Count, confirmed.vehicleIds.length);
      logOutcome('Connect succeeded', confirmed.vehicleIds.length);
      return redirect(withQuery(deps.successUrl, { status: 'connected', connectId: grantId, vehicles }));
    } catch (error) {
      // The grant is stored (ACTIVE or still PENDING): the links can be completed by confirming it again.
      logger.error('Could not link the Connect result', {
        appUserId,
        grantId,
        stage: 'links',
        error: error as Error,
      });
      return fail('storage_failed', { appUserId, grantId });
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
