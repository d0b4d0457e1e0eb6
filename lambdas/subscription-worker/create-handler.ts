import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mapWithLimit } from '../runtime/concurrency.js';
import type { MessageDelay } from '../subscriptions/sqs-subscription-queue.js';
import {
  InvalidSubscribeMessageError,
  parseSubscribeMessage,
  type WorkOutcome,
} from '../subscriptions/worker.js';
import type { SubscribeMessage } from '../subscriptions/subscription.js';

export interface SubscriptionWorkerDeps {
  readonly subscribeOne: (message: SubscribeMessage, attempt: number) => Promise<WorkOutcome>;
  readonly delay: MessageDelay;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Messages of one batch handled at once (each is a Smartcar call or two). */
const RECORD_CONCURRENCY = 5;

/**
 * SQS → subscribe, with partial batch responses: a message to retry is reported as failed after its visibility
 * timeout was set to the back-off, so SQS delivers it again only then (and moves it to the DLQ after
 * maxReceiveCount receives). A body that is not a subscribe message fails every time and so reaches the DLQ.
 */
export function createSubscriptionWorkerHandler(deps: SubscriptionWorkerDeps) {
  const { logger } = deps;

  async function handle(event: SQSEvent): Promise<SQSBatchResponse> {
    const failures = await mapWithLimit(event.Records, RECORD_CONCURRENCY, async (record) => {
      const attempt = Number(record.attributes?.ApproximateReceiveCount ?? '1') || 1;
      try {
        const outcome = await deps.subscribeOne(parseSubscribeMessage(record.body), attempt);
        if (outcome.result === 'done') return undefined;
        if (outcome.delaySeconds > 0) {
          try {
            await deps.delay.delay(record.receiptHandle, outcome.delaySeconds);
          } catch (error) {
            // The queue's own visibility timeout then spaces the retries instead.
            logger.warn('Could not postpone the retry', {
              messageId: record.messageId,
              error: error as Error,
            });
          }
        }
        return record.messageId;
      } catch (error) {
        if (error instanceof InvalidSubscribeMessageError) {
          logger.error('Unusable subscription message', {
            messageId: record.messageId,
            reason: error.message,
          });
        } else {
          logger.error('Subscription attempt failed unexpectedly', {
            messageId: record.messageId,
            error: error as Error,
          });
        }
        return record.messageId;
      }
    });
    return {
      batchItemFailures: failures
        .filter((id): id is string => id !== undefined)
        .map((itemIdentifier) => ({ itemIdentifier })),
    };
  }

  return middy(handle)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(deps.metrics));
}
