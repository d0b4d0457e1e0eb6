import { randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';

export interface SqsRecordOptions {
  /** The SentTimestamp: when the receiver queued the message. @default now */
  readonly sentAt?: number;
  /** A redelivery is the same message with a higher count. @default 1 */
  readonly receiveCount?: number;
  /** @default a random UUID */
  readonly messageId?: string;
  /** The `deliveryId` message attribute the receiver sets (Smartcar's delivery id). @default none */
  readonly deliveryId?: string;
}

/** One SQS message as the Lambda event source mapping hands it to the processor; a string body is sent as is. */
export function sqsRecord(body: unknown, options: SqsRecordOptions = {}): SQSRecord {
  const messageId = options.messageId ?? randomUUID();
  const sentAt = String(options.sentAt ?? Date.now());
  return {
    messageId,
    receiptHandle: messageId,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: sentAt,
      SenderId: 'receiver',
      ApproximateFirstReceiveTimestamp: sentAt,
    },
    messageAttributes:
      options.deliveryId === undefined
        ? {}
        : { deliveryId: { stringValue: options.deliveryId, dataType: 'String' } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:webhooks',
    awsRegion: 'us-east-1',
  };
}
