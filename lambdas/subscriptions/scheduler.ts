import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { mapWithLimit } from '../runtime/concurrency.js';
import type {
  SubscribeMessage,
  SubscriptionJobDeps,
  SubscriptionQueue,
  SubscriptionStore,
} from './subscription.js';

/**
 * The hook Connect calls once vehicles are linked: each configured webhook becomes a PENDING record and a
 * message on the subscription queue, for the worker (worker.ts) to subscribe outside the owner's redirect.
 * With no webhook ids configured it does nothing (the Dashboard's auto-enrollment subscribes vehicles).
 */
export interface SubscriptionScheduler {
  /**
   * Never throws: a failure is logged and counted (`SubscriptionScheduleFailed`), and leaves the records
   * PENDING for `POST /vehicles/{vehicleId}/subscriptions` to re-run. `force` re-subscribes ACTIVE ones too.
   */
  onLinked(
    vehicleIds: readonly string[],
    options?: { readonly force?: boolean },
  ): Promise<{ readonly queued: number; readonly failed: number }>;
  readonly webhookIds: readonly string[];
}

/** Records written at once (a Connect links up to 500 vehicles). */
const WRITE_CONCURRENCY = 10;

export function createSubscriptionScheduler(
  deps: SubscriptionJobDeps & {
    readonly webhookIds: readonly string[];
    readonly store: Pick<SubscriptionStore, 'markPending'>;
    readonly queue: SubscriptionQueue;
  },
): SubscriptionScheduler {
  const now = deps.now ?? Date.now;
  return {
    webhookIds: deps.webhookIds,
    async onLinked(vehicleIds, options = {}) {
      const wanted = vehicleIds.flatMap((vehicleId) =>
        deps.webhookIds.map((webhookId): SubscribeMessage => ({ action: 'subscribe', vehicleId, webhookId })),
      );
      if (wanted.length === 0) return { queued: 0, failed: 0 };
      const at = now();
      const marked = await mapWithLimit(wanted, WRITE_CONCURRENCY, async (message) => {
        try {
          return (await deps.store.markPending(message.vehicleId, message.webhookId, at, options))
            ? message
            : undefined;
        } catch (error) {
          deps.logger.error('Could not mark a subscription PENDING', {
            vehicleId: message.vehicleId,
            webhookId: message.webhookId,
            error: error as Error,
          });
          return null;
        }
      });
      const toQueue = marked.filter(
        (message): message is SubscribeMessage => message !== undefined && message !== null,
      );
      let failed = marked.filter((message) => message === null).length;
      let queued = toQueue.length;
      if (queued > 0) {
        try {
          await deps.queue.send(toQueue);
        } catch (error) {
          deps.logger.error('Could not queue subscriptions', { count: queued, error: error as Error });
          failed += queued;
          queued = 0;
        }
      }
      if (failed > 0) deps.metrics.addMetric('SubscriptionScheduleFailed', MetricUnit.Count, failed);
      if (queued > 0) deps.metrics.addMetric('SubscriptionsQueued', MetricUnit.Count, queued);
      return { queued, failed };
    },
  };
}

/**
 * The scheduler a Lambda's configuration asks for: undefined when no webhook ids are configured (nothing to
 * subscribe; the SQS client is then never used).
 */
export function configuredScheduler(
  config: {
    readonly SMARTCAR_WEBHOOK_IDS: readonly string[];
    readonly SUBSCRIPTION_QUEUE_URL?: string | undefined;
  },
  deps: {
    readonly store: Pick<SubscriptionStore, 'markPending'>;
    readonly queue: (queueUrl: string) => SubscriptionQueue;
    readonly logger: Logger;
    readonly metrics: Metrics;
  },
): SubscriptionScheduler | undefined {
  const queueUrl = config.SUBSCRIPTION_QUEUE_URL;
  if (config.SMARTCAR_WEBHOOK_IDS.length === 0 || queueUrl === undefined) return undefined;
  return createSubscriptionScheduler({
    webhookIds: config.SMARTCAR_WEBHOOK_IDS,
    store: deps.store,
    queue: deps.queue(queueUrl),
    logger: deps.logger,
    metrics: deps.metrics,
  });
}
