import { threadId } from 'node:worker_threads';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depth } from '../../bench/load/checks.js';
import { startSqsPollerThread, type SqsPollerThreadOptions } from '../../local/runtime/sqs-poller-thread.js';
import {
  createWebhookQueues,
  localSqsClient,
  startSqsEmulator,
  type SqsEmulator,
  type WebhookQueues,
} from '../../local/stand-ins/sqs.js';
import { freePort } from '../support/ports.js';

const REGION = 'us-east-1';
const HANDLER = new URL('../support/echo-queue-handler.ts', import.meta.url).href;
let emulator: SqsEmulator;
let client: SQSClient;
let queues: WebhookQueues;
let echoQueueUrl: string;
const logged: string[] = [];

beforeAll(async () => {
  emulator = await startSqsEmulator({ port: await freePort() });
  client = localSqsClient(emulator.endpoint, REGION);
  queues = await createWebhookQueues(client, {
    name: 'thread-q',
    dlqName: 'thread-q-dlq',
    visibilityTimeoutSeconds: 30,
    maxReceiveCount: 2,
  });
  echoQueueUrl = (await client.send(new CreateQueueCommand({ QueueName: 'thread-echo' }))).QueueUrl ?? '';
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

/** The thread on the test queue, with the echo handler. */
const threadOptions = (more: Partial<SqsPollerThreadOptions> = {}): SqsPollerThreadOptions => ({
  handlerModule: HANDLER,
  sqsEndpoint: emulator.endpoint,
  queueUrl: queues.queueUrl,
  queueArn: queues.queueArn,
  region: REGION,
  function: { functionName: 'echo', timeoutMs: 5_000, region: REGION },
  batchSize: 10,
  batchWindowMs: 0,
  ...more,
});

async function receiveEchoes(count: number): Promise<{ body: string; threadId: number }[]> {
  const echoes: { body: string; threadId: number }[] = [];
  const deadline = Date.now() + 15_000;
  while (echoes.length < count && Date.now() < deadline) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: echoQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    echoes.push(...Messages.map((m) => JSON.parse(m.Body ?? '{}') as { body: string; threadId: number }));
  }
  return echoes;
}

describe('a queue function in a thread of its own', () => {
  it('runs the handler module in another thread, deletes what succeeded and leaves what it reported failed', async () => {
    process.env.ECHO_SQS_ENDPOINT = emulator.endpoint;
    process.env.ECHO_QUEUE_URL = echoQueueUrl;
    const poller = await startSqsPollerThread(
      threadOptions({ concurrency: 2, log: (line) => logged.push(line) }),
    );
    try {
      await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queues.queueUrl,
          Entries: ['a', 'b', 'fail'].map((body, i) => ({ Id: String(i), MessageBody: body })),
        }),
      );
      const echoes = await receiveEchoes(3);
      expect(echoes.map((echo) => echo.body).sort()).toEqual(['a', 'b', 'fail']);
      expect(echoes.every((echo) => echo.threadId !== threadId)).toBe(true);
      // The failed record stays (invisible until its visibility timeout); the others are deleted.
      await expect.poll(() => depth(client, queues.queueUrl), { timeout: 5_000 }).toBe(1);
      // The thread's log lines reach this thread's log (the records may have come in one batch or more).
      await expect
        .poll(() => logged.some((line) => /echo: 1 of [1-3] record\(s\) reported failed/.test(line)))
        .toBe(true);
    } finally {
      await poller.stop();
    }
  });

  it('fails to start, with the cause, when the handler module cannot be loaded', async () => {
    delete process.env.ECHO_QUEUE_URL;
    await expect(startSqsPollerThread(threadOptions())).rejects.toThrow(
      /ECHO_SQS_ENDPOINT and ECHO_QUEUE_URL are required/,
    );
  });
});
