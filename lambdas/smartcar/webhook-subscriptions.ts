import smartcar from 'smartcar';
import { withTimeout } from '../runtime/deadline.js';
import { parseRetryAfter } from './errors.js';
import type { SmartcarSecretSource } from './secret.js';

/**
 * Subscribing a vehicle to a webhook and removing it, through the `smartcar` SDK (v10.4):
 * `vehicle.subscribe(webhookId)` is `POST {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/webhooks/{webhookId}` with the
 * vehicle's access token; `vehicle.unsubscribe(amt, webhookId)` is `DELETE` of the same path with the
 * Application Management Token as Bearer (https://smartcar.com/docs/api-reference/webhooks/subscribe-webhook,
 * …/unsubscribe-webhook). Nothing here logs; errors carry Smartcar's fields only.
 */

export interface WebhookSubscriptionsApi {
  subscribe(vehicleId: string, webhookId: string, accessToken: string, timeoutMs: number): Promise<void>;
  unsubscribe(vehicleId: string, webhookId: string, timeoutMs: number): Promise<void>;
}

/**
 * What a failed call means: `already` (subscribing twice: the goal holds), `rate_limited` (429, with
 * `Retry-After` as ms when sent), `transient` (5xx, timeouts, network: retry), `rejected` (any other 4xx:
 * retrying the same request will not help).
 */
export type SubscriptionFailureKind = 'already' | 'rate_limited' | 'transient' | 'rejected';

export interface SubscriptionFailure {
  readonly kind: SubscriptionFailureKind;
  readonly type: string | null;
  readonly code: string | null;
  readonly statusCode?: number;
  readonly retryAfterMs?: number;
}

/**
 * Smartcar does not document the answer to a repeated subscription; a 409, or an error that says "already",
 * is taken as "subscribed" (the state we wanted).
 */
function saysAlready(error: InstanceType<typeof smartcar.SmartcarError>): boolean {
  return error.statusCode === 409 || /already/i.test(`${error.code ?? ''} ${error.description ?? ''}`);
}

export function classifySubscriptionError(error: unknown, now: number = Date.now()): SubscriptionFailure {
  if (error instanceof smartcar.SmartcarError) {
    const fields = { type: error.type ?? null, code: error.code ?? null, statusCode: error.statusCode };
    if (error.statusCode === 429 || error.type === 'RATE_LIMIT') {
      const retryAfterMs = parseRetryAfter(error.retryAfter, now);
      return { kind: 'rate_limited', ...fields, ...(retryAfterMs !== undefined && { retryAfterMs }) };
    }
    if (saysAlready(error)) return { kind: 'already', ...fields };
    // 408 is the SDK's own timeout.
    if (error.statusCode >= 500 || error.statusCode === 408) return { kind: 'transient', ...fields };
    return { kind: 'rejected', ...fields };
  }
  // Our timeout, fetch's network errors, anything unexpected: a retry is harmless (subscribing is idempotent).
  const name = error instanceof Error ? error.name : typeof error;
  return { kind: 'transient', type: name, code: null };
}

export function smartcarWebhookSubscriptions(options: {
  readonly secret: SmartcarSecretSource;
}): WebhookSubscriptionsApi {
  return {
    async subscribe(vehicleId, webhookId, accessToken, timeoutMs) {
      const vehicle = new smartcar.Vehicle(vehicleId, accessToken);
      await withTimeout(vehicle.subscribe(webhookId), timeoutMs, 'subscribe');
    },
    async unsubscribe(vehicleId, webhookId, timeoutMs) {
      const { managementToken } = await options.secret.get();
      // The SDK sends the AMT instead of the access token for this call; the vehicle handle needs none.
      const vehicle = new smartcar.Vehicle(vehicleId, '');
      await withTimeout(vehicle.unsubscribe(managementToken, webhookId), timeoutMs, 'unsubscribe');
    },
  };
}
