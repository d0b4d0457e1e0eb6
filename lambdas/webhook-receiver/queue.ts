import { SendMessageCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueuedWebhook } from './receive.js';

export interface WebhookQueue {
  /** Resolves only once SQS has stored the message durably; throws otherwise. */
  send(message: QueuedWebhook): Promise<string | undefined>;
}

export function sqsWebhookQueue(client: SQSClient, queueUrl: string): WebhookQueue {
  return {
    async send({ body, attributes }) {
      const messageAttributes: Record<string, MessageAttributeValue> = {};
      for (const [name, value] of Object.entries(attributes)) {
        if (typeof value === 'string' && value.length > 0) {
          messageAttributes[name] = { DataType: 'String', StringValue: value };
        }
      }
      const result = await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body,
          MessageAttributes: messageAttributes,
        }),
      );
      return result.MessageId;
    },
  };
}
