import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load/run.js';
import { LOCAL_NAMES } from '../../local/stack.js';
import { startLocalStack, type LocalStack } from '../support/local-stack.js';

/**
 * A small `npm run load` inside the test suite: a few hundred signed webhooks (re-sends, out-of-order
 * deliveries, poison) through `npm start`'s stack. Only the correctness checks are asserted, never a timing.
 */

let stack: LocalStack;
let sqs: SQSClient;

beforeAll(async () => {
  stack = await startLocalStack({
    LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES: '0',
    // Poison reaches the DLQ after 3 receives 5 s apart, so the test does not wait out 5 × 30 s.
    LOCAL_VISIBILITY_TIMEOUT_SECONDS: '5',
    LOCAL_MAX_RECEIVE_COUNT: '3',
  });
  sqs = new SQSClient({
    endpoint: stack.sqsEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

describe('a small load through the local stack', () => {
  it('applies every distinct event once, keeps the newest values, parks only the poison and answers no valid delivery with 5xx', async () => {
    const queueUrl = async (QueueName: string) =>
      (await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl ?? '';
    const figures = await runLoad({
      apiUrl: stack.baseUrl,
      sqs,
      queues: {
        queueUrl: await queueUrl(LOCAL_NAMES.queue),
        dlqUrl: await queueUrl(LOCAL_NAMES.deadLetterQueue),
      },
      managementToken: stack.managementToken,
      events: 300,
      concurrency: 10,
      drainTimeoutMs: 90_000,
    });
    const failed = figures.checks
      .filter((check) => !check.ok)
      .map((check) => `${check.name}: ${check.detail}`);
    expect(failed).toEqual([]);
    expect(figures.checks.length).toBeGreaterThanOrEqual(7);
  }, 150_000);
});
