import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SmartcarCallDeps } from '../runtime/deps.js';
import { describeSmartcarError } from '../smartcar/errors.js';
import {
  classifySubscriptionError,
  type SubscriptionFailure,
  type WebhookSubscriptionsApi,
} from '../smartcar/webhook-subscriptions.js';
import {
  AccessTokenUnavailableError,
  GrantNeedsReauthError,
  VehicleNotConnectedError,
  type AccessTokenProvider,
} from '../tokens/access-token.js';
import { isValidVehicleId, isValidWebhookId } from '../vehicles/vehicle-keys.js';
import {
  ACTIVE,
  FAILED,
  PENDING,
  type SubscribeMessage,
  type SubscriptionError,
  type SubscriptionStore,
} from './subscription.js';

/**
 * One subscribe message (docs/design.md, "Webhook subscriptions"): the vehicle's access token
 * (lambdas/tokens/access-token.ts), then `vehicle.subscribe(webhookId)`.
 *
 * - subscribed, or "already subscribed": ACTIVE.
 * - 429: PENDING, next attempt after `Retry-After` (else the back-off); 5xx / timeouts / no token right now:
 *   PENDING, next attempt after an exponential back-off. The delay is the message's visibility timeout, so the
 *   retry costs nothing meanwhile. The last allowed attempt failing makes it FAILED, and the message goes on to
 *   the DLQ (redrive it once the cause is fixed).
 * - any other 4xx, a vehicle that is no longer connected or needs re-authorization: FAILED at once (no retry
 *   can help), counted as `SubscriptionsFailed`.
 */

export type WorkOutcome =
  | { readonly result: 'done' }
  /** Leave the message on the queue, to be received again after `delaySeconds`. */
  | { readonly result: 'retry'; readonly delaySeconds: number };

export interface WorkerDeps extends SmartcarCallDeps {
  readonly store: Pick<SubscriptionStore, 'recordAttempt'>;
  readonly api: Pick<WebhookSubscriptionsApi, 'subscribe'>;
  readonly tokens: AccessTokenProvider;
  /** Receives of a message after which it is given up (the queue's maxReceiveCount). */
  readonly maxAttempts: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Back-off without a Retry-After: 2 s, doubling per receive, at most 15 min (plus up to 1 s jitter). */
const BACKOFF_BASE_SECONDS = 2;
const BACKOFF_CAP_SECONDS = 900;
/** SQS's longest visibility timeout is 12 h; a Retry-After beyond it is capped. */
const MAX_DELAY_SECONDS = 12 * 60 * 60;

export class InvalidSubscribeMessageError extends Error {
  override readonly name = 'InvalidSubscribeMessageError';
}

export function parseSubscribeMessage(body: string): SubscribeMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InvalidSubscribeMessageError('not JSON');
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const { action, vehicleId, webhookId } = record;
  if (
    action !== 'subscribe' ||
    typeof vehicleId !== 'string' ||
    !isValidVehicleId(vehicleId) ||
    typeof webhookId !== 'string' ||
    !isValidWebhookId(webhookId)
  ) {
    throw new InvalidSubscribeMessageError('not a subscribe message');
  }
  return { action, vehicleId, webhookId };
}

export function backoffSeconds(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempt - 1));
  return Math.ceil(exponential + random());
}

function stored(failure: SubscriptionFailure): SubscriptionError {
  return {
    type: failure.type,
    code: failure.code,
    ...(failure.statusCode !== undefined && { statusCode: failure.statusCode }),
  };
}

export function createSubscribeWorker(deps: WorkerDeps) {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { logger, metrics } = deps;

  async function record(
    message: SubscribeMessage,
    outcome: Parameters<WorkerDeps['store']['recordAttempt']>[2],
  ): Promise<void> {
    const written = await deps.store.recordAttempt(message.vehicleId, message.webhookId, outcome, now());
    // Not written: the vehicle was disconnected (REMOVED) meanwhile; nothing more to do for it.
    if (!written) logger.info('Subscription no longer wanted', { ...message, status: outcome.status });
  }

  async function giveUp(
    message: SubscribeMessage,
    error: SubscriptionError,
    reason: string,
  ): Promise<WorkOutcome> {
    await record(message, { status: FAILED, error });
    metrics.addMetric('SubscriptionsFailed', MetricUnit.Count, 1);
    logger.warn('Subscription failed', { ...message, reason, error });
    return { result: 'done' };
  }

  async function retryLater(
    message: SubscribeMessage,
    attempt: number,
    error: SubscriptionError,
    delaySeconds: number,
  ): Promise<WorkOutcome> {
    if (attempt >= deps.maxAttempts) {
      await record(message, { status: FAILED, error });
      metrics.addMetric('SubscriptionsFailed', MetricUnit.Count, 1);
      logger.error('Subscription failed after the last attempt; the message goes to the DLQ', {
        ...message,
        attempt,
        error,
      });
      return { result: 'retry', delaySeconds: 0 };
    }
    await record(message, { status: PENDING, error });
    return { result: 'retry', delaySeconds: Math.min(MAX_DELAY_SECONDS, delaySeconds) };
  }

  /** `attempt`: 1 for the first receive of the message (SQS ApproximateReceiveCount). */
  return async function subscribeOne(message: SubscribeMessage, attempt: number): Promise<WorkOutcome> {
    let accessToken: string;
    try {
      accessToken = (await deps.tokens.getAccessToken(message.vehicleId)).accessToken;
    } catch (error) {
      if (error instanceof VehicleNotConnectedError) {
        return giveUp(message, { type: 'VEHICLE_NOT_CONNECTED', code: null }, 'not_connected');
      }
      if (error instanceof GrantNeedsReauthError) {
        return giveUp(message, { type: 'NEEDS_REAUTH', code: null }, 'needs_reauth');
      }
      if (error instanceof AccessTokenUnavailableError) {
        return retryLater(
          message,
          attempt,
          { type: 'ACCESS_TOKEN_UNAVAILABLE', code: error.reason },
          backoffSeconds(attempt, random),
        );
      }
      throw error;
    }

    try {
      await deps.api.subscribe(message.vehicleId, message.webhookId, accessToken, deps.smartcarTimeoutMs);
    } catch (error) {
      const failure = classifySubscriptionError(error, now());
      if (failure.kind !== 'already') {
        logger.info('Subscribe attempt failed', {
          ...message,
          attempt,
          smartcarError: describeSmartcarError(error),
        });
        if (failure.kind === 'rejected') return giveUp(message, stored(failure), 'rejected');
        if (failure.kind === 'rate_limited') metrics.addMetric('SmartcarRateLimited', MetricUnit.Count, 1);
        const delay =
          failure.kind === 'rate_limited' && failure.retryAfterMs !== undefined
            ? Math.ceil(failure.retryAfterMs / 1000 + random())
            : backoffSeconds(attempt, random);
        return retryLater(message, attempt, stored(failure), delay);
      }
    }
    await record(message, { status: ACTIVE });
    metrics.addMetric('SubscriptionsActive', MetricUnit.Count, 1);
    logger.info('Vehicle subscribed to webhook', { ...message, attempt });
    return { result: 'done' };
  };
}
