import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { RecoveryQueue } from './token-recovery.js';

/**
 * The recovery queue on SQS. Receives long-poll for 1 s: a short poll samples only some of SQS's servers and
 * may answer "empty" while messages exist, and a run must see every parked pair before it refreshes.
 */
export const RECOVERY_RECEIVE_WAIT_SECONDS = 1;

export function sqsRecoveryQueue(client: SQSClient, queueUrl: string): RecoveryQueue {
  return {
    async send(body) {
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    },
    async receive(max) {
      const result = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: RECOVERY_RECEIVE_WAIT_SECONDS,
        }),
      );
      return (result.Messages ?? []).flatMap((message) =>
        message.Body !== undefined && message.ReceiptHandle !== undefined
          ? [{ body: message.Body, receipt: message.ReceiptHandle }]
          : [],
      );
    },
    async delete(receipt) {
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receipt }));
    },
  };
}
