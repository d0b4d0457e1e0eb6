import { threadId } from 'node:worker_threads';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSHandler } from 'aws-lambda';
import { localSqsClient } from '../../local/stand-ins/sqs.js';

/**
 * A queue function for the poller-thread tests, read at cold start like a real one: it echoes each record's
 * body and the thread it ran in to ECHO_QUEUE_URL, and reports the records whose body is "fail" as failed.
 */
const endpoint = process.env.ECHO_SQS_ENDPOINT ?? '';
const echoQueueUrl = process.env.ECHO_QUEUE_URL ?? '';
if (endpoint === '' || echoQueueUrl === '')
  throw new Error('ECHO_SQS_ENDPOINT and ECHO_QUEUE_URL are required');
const client = localSqsClient(endpoint, 'us-east-1');

export const handler: SQSHandler = async (event) => {
  for (const record of event.Records) {
    await client.send(
      new SendMessageCommand({
        QueueUrl: echoQueueUrl,
        MessageBody: JSON.stringify({ body: record.body, threadId }),
      }),
    );
  }
  return {
    batchItemFailures: event.Records.filter((record) => record.body === 'fail').map((record) => ({
      itemIdentifier: record.messageId,
    })),
  };
};
