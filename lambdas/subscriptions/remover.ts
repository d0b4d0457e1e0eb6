import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { describeSmartcarError } from '../smartcar/errors.js';
import {
  classifySubscriptionError,
  type WebhookSubscriptionsApi,
} from '../smartcar/webhook-subscriptions.js';
import { ACTIVE, REMOVED, type SubscriptionJobDeps, type SubscriptionStore } from './subscription.js';

/**
 * The hook a disconnect (or a user's removal) calls before it revokes the connection: every ACTIVE subscription
 * of the vehicle is removed at Smartcar with the management token, every record becomes REMOVED. A failure is
 * recorded on the record (`unsubscribeError`) and counted (`UnsubscribeFailed`) but never thrown: revoking the
 * connection ends the deliveries too, so it must not wait for this.
 */
export interface SubscriptionRemover {
  unsubscribeAll(vehicleId: string): Promise<{ readonly removed: number; readonly failed: number }>;
}

export function createSubscriptionRemover(
  deps: SubscriptionJobDeps & {
    readonly store: Pick<SubscriptionStore, 'list' | 'recordRemoved'>;
    readonly api: Pick<WebhookSubscriptionsApi, 'unsubscribe'>;
    readonly timeoutMs: number;
  },
): SubscriptionRemover {
  const now = deps.now ?? Date.now;
  const { logger, metrics } = deps;
  return {
    async unsubscribeAll(vehicleId) {
      let records;
      try {
        records = await deps.store.list(vehicleId);
      } catch (error) {
        logger.error('Could not read the subscriptions to remove', { vehicleId, error: error as Error });
        metrics.addMetric('UnsubscribeFailed', MetricUnit.Count, 1);
        return { removed: 0, failed: 1 };
      }
      let removed = 0;
      let failed = 0;
      // One after the other: a vehicle has a handful of webhooks, and Smartcar rate-limits per application.
      for (const record of records) {
        if (record.status === REMOVED) continue;
        let error;
        if (record.status === ACTIVE) {
          try {
            await deps.api.unsubscribe(vehicleId, record.webhookId, deps.timeoutMs);
          } catch (cause) {
            const failure = classifySubscriptionError(cause);
            error = {
              type: failure.type,
              code: failure.code,
              ...(failure.statusCode !== undefined && { statusCode: failure.statusCode }),
            };
            failed += 1;
            logger.warn('Smartcar did not confirm the unsubscription', {
              vehicleId,
              webhookId: record.webhookId,
              smartcarError: describeSmartcarError(cause),
            });
          }
        }
        try {
          await deps.store.recordRemoved(vehicleId, record.webhookId, error, now());
          if (error === undefined) removed += 1;
        } catch (storeError) {
          logger.error('Could not record the unsubscription', {
            vehicleId,
            webhookId: record.webhookId,
            error: storeError as Error,
          });
        }
      }
      if (failed > 0) metrics.addMetric('UnsubscribeFailed', MetricUnit.Count, failed);
      if (removed > 0) metrics.addMetric('SubscriptionsRemoved', MetricUnit.Count, removed);
      return { removed, failed };
    },
  };
}
