import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSHandler, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookQueues, type WebhookQueues } from '../../local/stand-ins/sqs.js';
import { interpretBatchResponse, startSqsPoller, type SqsPoller } from '../../local/runtime/sqs-poller.js';
import { useSqsEmulator } from '../support/sqs-emulator.js';

const REGION = 'us-east-1';
const sqs = useSqsEmulator();
let poller: SqsPoller | undefined;
let queueCounter = 0;
const logged: string[] = [];

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

/** A fresh queue pair per test: visibility 1 s (unless given), DLQ after 2 receives. */
async function queues(visibilityTimeoutSeconds = 1): Promise<WebhookQueues> {
  queueCounter += 1;
  return createWebhookQueues(sqs.client, {
    name: `q${queueCounter}`,
    dlqName: `q${queueCounter}-dlq`,
    visibilityTimeoutSeconds,
    maxReceiveCount: 2,
  });
}

function poll(
  q: WebhookQueues,
  handler: SQSHandler,
  overrides: { batchSize?: number; batchWindowMs?: number; timeoutMs?: number; concurrency?: number } = {},
) {
  poller = startSqsPoller({
    client: sqs.client,
    queueUrl: q.queueUrl,
    queueArn: q.queueArn,
    region: REGION,
    handler,
    function: { functionName: 'processor-test', timeoutMs: overrides.timeoutMs ?? 5_000, region: REGION },
    batchSize: overrides.batchSize ?? 10,
    batchWindowMs: overrides.batchWindowMs ?? 300,
    ...(overrides.concurrency !== undefined && { concurrency: overrides.concurrency }),
    waitTimeSeconds: 1,
    log: (line) => logged.push(line),
  });
  return poller;
}

async function sendBatch(queueUrl: string, bodies: string[]): Promise<string[]> {
  const result = await sqs.client.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, index) => ({
        Id: String(index),
        MessageBody: body,
        MessageAttributes: { eventId: { DataType: 'String', StringValue: `id-${body}` } },
      })),
    }),
  );
  return bodies.map(
    (_, index) => result.Successful?.find((entry) => entry.Id === String(index))?.MessageId ?? '',
  );
}

async function counts(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes } = await sqs.client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bodiesOf = (event: SQSEvent) => event.Records.map((record) => record.body);

describe('SQS poller (event source mapping semantics)', () => {
  it('invokes with a Lambda-shaped SQSEvent and deletes the batch on success', async () => {
    const q = await queues();
    const events: SQSEvent[] = [];
    poll(q, async (event) => {
      events.push(event);
    });
    const sent = await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: q.queueUrl,
        MessageBody: '{"eventId":"e1"}',
        MessageAttributes: {
          eventId: { DataType: 'String', StringValue: 'e1' },
          raw: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
        },
      }),
    );
    await waitFor(() => events.length === 1);
    const record = events[0]?.Records[0] as SQSRecord;
    expect(record.messageId).toBe(sent.MessageId);
    expect(record.receiptHandle).toBeTruthy();
    expect(record.body).toBe('{"eventId":"e1"}');
    expect(record.md5OfBody).toBe(sent.MD5OfMessageBody);
    expect(record.md5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
    expect(record.eventSource).toBe('aws:sqs');
    expect(record.eventSourceARN).toBe(q.queueArn);
    expect(record.awsRegion).toBe(REGION);
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
      Number(record.attributes.SentTimestamp),
    );
    expect(record.attributes.SenderId).toBeTruthy();
    expect(record.messageAttributes).toEqual({
      eventId: { stringValue: 'e1', stringListValues: [], binaryListValues: [], dataType: 'String' },
      raw: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
    });

    await waitFor(async () => {
      const c = await counts(q.queueUrl);
      return c.visible === 0 && c.inFlight === 0;
    });
    await sleep(1_500); // past the visibility timeout: a deleted message does not come back
    expect(events).toHaveLength(1);
  });

  it('deletes only the successful records of a partial batch failure; the failed one comes back', async () => {
    const q = await queues();
    const events: SQSEvent[] = [];
    poll(q, async (event) => {
      events.push(event);
      const failing = events.length === 1 ? event.Records.filter((r) => r.body === 'b') : [];
      return { batchItemFailures: failing.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    const [, idB] = await sendBatch(q.queueUrl, ['a', 'b', 'c']);
    await waitFor(() => events.length === 2);
    expect(bodiesOf(events[0] as SQSEvent).sort()).toEqual(['a', 'b', 'c']);
    expect(bodiesOf(events[1] as SQSEvent)).toEqual(['b']);
    expect(events[1]?.Records[0]?.messageId).toBe(idB);
    expect(events[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    await waitFor(async () => {
      const c = await counts(q.queueUrl);
      return c.visible === 0 && c.inFlight === 0;
    });
    await sleep(1_500);
    expect(events).toHaveLength(2);
  });

  it('deletes nothing when the handler throws: the whole batch is retried', async () => {
    const q = await queues();
    const events: SQSEvent[] = [];
    poll(q, async (event) => {
      events.push(event);
      if (events.length === 1) throw new Error('transient');
    });
    await sendBatch(q.queueUrl, ['x', 'y']);
    await waitFor(() => events.length === 2);
    expect(bodiesOf(events[0] as SQSEvent).sort()).toEqual(['x', 'y']);
    expect(bodiesOf(events[1] as SQSEvent).sort()).toEqual(['x', 'y']);
    expect(events[1]?.Records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['2', '2']);
    expect(logged.some((line) => line.includes('failed'))).toBe(true);
  });

  it('treats an unknown itemIdentifier as a failure of the whole batch', async () => {
    const q = await queues();
    const events: SQSEvent[] = [];
    poll(q, async (event) => {
      events.push(event);
      return events.length === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] } : undefined;
    });
    await sendBatch(q.queueUrl, ['p', 'q']);
    await waitFor(() => events.length === 2);
    expect(bodiesOf(events[1] as SQSEvent).sort()).toEqual(['p', 'q']);
  });

  it('treats a timed-out invocation as failed', async () => {
    const q = await queues();
    const events: SQSEvent[] = [];
    poll(
      q,
      async (event) => {
        events.push(event);
        if (events.length === 1) await sleep(400);
      },
      { timeoutMs: 150 },
    );
    await sendBatch(q.queueUrl, ['slow']);
    await waitFor(() => events.length === 2);
    expect(events[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(logged.some((line) => line.includes('processor-test failed'))).toBe(true);
  });

  it('lets the redrive policy move a message that fails maxReceiveCount times to the DLQ', async () => {
    const q = await queues();
    const receiveCounts: string[] = [];
    poll(q, async (event) => {
      receiveCounts.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
      return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    const [messageId] = await sendBatch(q.queueUrl, ['poison']);
    let dlqBody: string | undefined;
    let dlqId: string | undefined;
    await waitFor(async () => {
      const { Messages } = await sqs.client.send(
        new ReceiveMessageCommand({ QueueUrl: q.dlqUrl, WaitTimeSeconds: 0, MaxNumberOfMessages: 1 }),
      );
      dlqBody = Messages?.[0]?.Body;
      dlqId = Messages?.[0]?.MessageId;
      return dlqBody !== undefined;
    }, 15_000);
    expect(dlqBody).toBe('poison');
    expect(dlqId).toBe(messageId);
    // Invoked exactly maxReceiveCount (2) times, then never again.
    expect(receiveCounts).toEqual(['1', '2']);
    await sleep(1_200);
    expect(receiveCounts).toEqual(['1', '2']);
    expect(await counts(q.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('never hands the handler more than batchSize records', async () => {
    const q = await queues();
    const sizes: number[] = [];
    poll(
      q,
      async (event) => {
        sizes.push(event.Records.length);
      },
      { batchSize: 2, batchWindowMs: 200 },
    );
    await sendBatch(q.queueUrl, ['1', '2', '3', '4', '5']);
    await waitFor(() => sizes.reduce((a, b) => a + b, 0) === 5);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
  });

  it('gathers records that arrive within the batching window into one invocation', async () => {
    // Visibility longer than the window, as AWS requires (otherwise a record could come back mid-gathering).
    const q = await queues(5);
    const events: SQSEvent[] = [];
    poll(q, async (event) => void events.push(event), { batchWindowMs: 1_000 });
    await sendBatch(q.queueUrl, ['first']);
    await sleep(300);
    await sendBatch(q.queueUrl, ['second']);
    await waitFor(() => events.reduce((n, e) => n + e.Records.length, 0) === 2);
    expect(events).toHaveLength(1);
    expect(bodiesOf(events[0] as SQSEvent)).toEqual(['first', 'second']);
  });

  it('keeps a record once when it becomes visible again while the batch is gathered', async () => {
    const q = await queues(1);
    const events: SQSEvent[] = [];
    poll(q, async (event) => void events.push(event), { batchWindowMs: 1_600 });
    await sendBatch(q.queueUrl, ['once']);
    await waitFor(() => events.length === 1);
    expect(bodiesOf(events[0] as SQSEvent)).toEqual(['once']);
    // The newest receipt handle was used, so the delete worked.
    await waitFor(async () => {
      const c = await counts(q.queueUrl);
      return c.visible === 0 && c.inFlight === 0;
    });
  });

  it.each([
    ['up to `concurrency` batches at once, never more', 3, 3],
    ['one batch at a time without a concurrency', undefined, 1],
  ])('runs %s', async (_label, concurrency, expected) => {
    const q = await queues(5);
    let running = 0;
    let most = 0;
    let handled = 0;
    poll(
      q,
      async (event) => {
        running += 1;
        most = Math.max(most, running);
        await sleep(300);
        running -= 1;
        handled += event.Records.length;
      },
      { batchSize: 2, batchWindowMs: 0, ...(concurrency !== undefined && { concurrency }) },
    );
    await sendBatch(q.queueUrl, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    await sendBatch(q.queueUrl, ['11', '12']);
    await waitFor(() => handled === 12, 20_000);
    expect(most).toBe(expected);
  });

  it('stops promptly while long-polling', async () => {
    const q = await queues();
    const p = poll(q, async () => undefined);
    await sleep(200);
    const started = Date.now();
    await p.stop();
    poller = undefined;
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('interpretBatchResponse', () => {
  const batch = [{ messageId: 'm1' }, { messageId: 'm2' }] as SQSRecord[];
  it('reads the handler answer like the event source mapping', () => {
    expect(interpretBatchResponse(undefined, batch)).toEqual({ kind: 'success' });
    expect(interpretBatchResponse({ batchItemFailures: [] }, batch)).toEqual({ kind: 'success' });
    expect(interpretBatchResponse({}, batch)).toEqual({ kind: 'success' });
    expect(interpretBatchResponse({ batchItemFailures: [{ itemIdentifier: 'm2' }] }, batch)).toEqual({
      kind: 'partial',
      failedMessageIds: new Set(['m2']),
    });
    expect(interpretBatchResponse({ batchItemFailures: [{ itemIdentifier: '' }] }, batch).kind).toBe(
      'failure',
    );
    expect(interpretBatchResponse({ batchItemFailures: [{ itemIdentifier: 'mX' }] }, batch).kind).toBe(
      'failure',
    );
    expect(interpretBatchResponse({ batchItemFailures: 'x' }, batch).kind).toBe('failure');
  });
});
