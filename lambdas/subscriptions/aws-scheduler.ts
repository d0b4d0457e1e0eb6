import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoSubscriptions } from './dynamo-subscriptions.js';
import { configuredScheduler, type SubscriptionScheduler } from './scheduler.js';
import { sqsSubscriptionQueue } from './sqs-subscription-queue.js';

/**
 * The scheduler a Connect Lambda (callback, confirm) subscribes linked vehicles with: records in the vehicle
 * table, messages on the subscription queue; undefined when no webhook ids are configured.
 */
export function awsSubscriptionScheduler(
  config: Parameters<typeof configuredScheduler>[0] & { readonly VEHICLE_TABLE_NAME: string },
  deps: {
    readonly documentClient: DynamoDBDocumentClient;
    readonly sqs: SQSClient;
    readonly logger: Logger;
    readonly metrics: Metrics;
  },
): SubscriptionScheduler | undefined {
  return configuredScheduler(config, {
    store: dynamoSubscriptions(deps.documentClient, config.VEHICLE_TABLE_NAME),
    queue: (queueUrl) => sqsSubscriptionQueue(deps.sqs, queueUrl),
    logger: deps.logger,
    metrics: deps.metrics,
  });
}
