import type { ConnectionHooks, RevokeReason } from '../connections/hooks.js';
import type { SubscriptionRemover } from './remover.js';
import type { SubscriptionScheduler } from './scheduler.js';

/**
 * Revocations after which the vehicle is gone for this app: its webhook subscriptions are removed first. Not on a
 * move to another app user (the vehicle stays with the app and the new link subscribes it again), nor for
 * connects that never linked anything (mismatch, expiry, failure) or connections the app never knew (orphans).
 */
const UNSUBSCRIBE_ON: ReadonlySet<RevokeReason> = new Set(['disconnect', 'user_removed']);

/**
 * Webhook subscriptions as the connection lifecycle's hooks: a vehicle is subscribed once it is linked (after
 * its confirmation), and unsubscribed before the connection that ends it is revoked.
 */
export function subscriptionHooks(options: {
  readonly scheduler?: Pick<SubscriptionScheduler, 'onLinked'>;
  readonly remover?: Pick<SubscriptionRemover, 'unsubscribeAll'>;
}): ConnectionHooks {
  return {
    async onLinked(event) {
      if (options.scheduler && event.vehicleIds.length > 0)
        await options.scheduler.onLinked(event.vehicleIds);
    },
    async beforeRevoke(event) {
      if (options.remover && UNSUBSCRIBE_ON.has(event.reason)) {
        await options.remover.unsubscribeAll(event.vehicleId);
      }
    },
  };
}
