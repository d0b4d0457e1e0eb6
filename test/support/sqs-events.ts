import { randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';

/**
 * One SQS message as the Lambda event source mapping hands it to the processor. `sentAt` is the SentTimestamp
 * (when the receiver queued it); a redelivery is the same message with a higher `receiveCount`.
 */
export function sqsRecord(
  body: unknown,
  options: { readonly sentAt?: number; readonly receiveCount?: number; readonly messageId?: string } = {},
): SQSRecord {
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
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:webhooks',
    awsRegion: 'us-east-1',
  };
}
