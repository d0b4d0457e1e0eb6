import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * Webhook subscriptions of vehicles (docs/design.md, "Webhook subscriptions"): Smartcar delivers a webhook only
 * for the vehicles subscribed to it. One record per (vehicle, webhook) in the vehicle state table
 * (`SUBSCRIPTION#<webhookId>` in the vehicle's partition), written by the scheduler (PENDING), the worker that
 * calls Smartcar (ACTIVE / FAILED, attempts, last error) and the disconnect (REMOVED).
 */

export const PENDING = 'PENDING';
export const ACTIVE = 'ACTIVE';
export const FAILED = 'FAILED';
/** Unsubscribed by a disconnect (or failed to be, see `unsubscribeError`); a later Connect makes it PENDING. */
export const REMOVED = 'REMOVED';

export type SubscriptionStatus = typeof PENDING | typeof ACTIVE | typeof FAILED | typeof REMOVED;

/** The Smartcar error fields worth keeping: never a message body or a token. */
export interface SubscriptionError {
  readonly type: string | null;
  readonly code: string | null;
  readonly statusCode?: number;
}

export interface SubscriptionRecord {
  readonly vehicleId: string;
  readonly webhookId: string;
  readonly status: SubscriptionStatus;
  /** Subscribe calls made since it became PENDING. */
  readonly attempts: number;
  readonly lastError?: SubscriptionError;
  readonly unsubscribeError?: SubscriptionError;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly subscribedAt?: number;
}

/** The SQS message of one subscription to make (the subscription queue's body, JSON). */
export interface SubscribeMessage {
  readonly action: 'subscribe';
  readonly vehicleId: string;
  readonly webhookId: string;
}

/** The port of the subscription records (DynamoDB adapter: dynamo-subscriptions.ts). */
export interface SubscriptionStore {
  /** Every subscription record of the vehicle, in webhook id order. */
  list(vehicleId: string): Promise<SubscriptionRecord[]>;
  /**
   * PENDING with attempts 0, errors cleared (created if missing), unless it is ACTIVE already and `force` is not
   * set. True when it is PENDING now (so a subscribe message should be queued).
   */
  markPending(
    vehicleId: string,
    webhookId: string,
    now: number,
    options?: { readonly force?: boolean },
  ): Promise<boolean>;
  /** One more attempt; `status` ACTIVE (subscribed), FAILED (given up) or PENDING (will be retried). */
  recordAttempt(
    vehicleId: string,
    webhookId: string,
    outcome:
      | { readonly status: typeof ACTIVE }
      | { readonly status: typeof PENDING | typeof FAILED; readonly error: SubscriptionError },
    now: number,
  ): Promise<boolean>;
  /** After a disconnect: REMOVED, with the unsubscribe error when Smartcar did not confirm. */
  recordRemoved(
    vehicleId: string,
    webhookId: string,
    error: SubscriptionError | undefined,
    now: number,
  ): Promise<void>;
}

/** Queues subscribe messages (SQS adapter: sqs-subscription-queue.ts). */
export interface SubscriptionQueue {
  send(messages: readonly SubscribeMessage[]): Promise<void>;
}

/** `wh-a, wh-b` (comma list, blanks dropped, duplicates once) → the ids. */
export function parseWebhookIds(value: string | undefined): string[] {
  return [
    ...new Set(
      (value ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== ''),
    ),
  ];
}

/** What the scheduler and the remover log and count through. */
export interface SubscriptionJobDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default Date.now */
  readonly now?: () => number;
}
