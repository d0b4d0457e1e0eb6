import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SubscribeMessage, SubscriptionQueue } from './subscription.js';

/** SendMessageBatch's limit. */
const BATCH_SIZE = 10;

/** Queues subscribe messages, 10 per SendMessageBatch; throws if any entry was not stored. */
export function sqsSubscriptionQueue(client: SQSClient, queueUrl: string): SubscriptionQueue {
  return {
    async send(messages) {
      for (let start = 0; start < messages.length; start += BATCH_SIZE) {
        const batch = messages.slice(start, start + BATCH_SIZE);
        const result = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((message: SubscribeMessage, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify(message),
            })),
          }),
        );
        if ((result.Failed ?? []).length > 0) {
          throw new Error(`SQS refused ${result.Failed?.length ?? 0} subscription message(s)`);
        }
      }
    },
  };
}

/** Postpones a received message's next delivery: the back-off between subscribe attempts. */
export interface MessageDelay {
  delay(receiptHandle: string, seconds: number): Promise<void>;
}

export function sqsMessageDelay(client: SQSClient, queueUrl: string): MessageDelay {
  return {
    async delay(receiptHandle, seconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
  };
}
