import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSHandler, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { invokeHandler, type LocalFunction } from './lambda-runtime.js';

/**
 * A local Lambda event source mapping for SQS, with `ReportBatchItemFailures`:
 * long-polls the queue, gathers up to `batchSize` records for up to `batchWindowMs`, invokes the handler with
 * a real SQSEvent and deletes what succeeded. What it does not delete is left to SQS: it becomes visible
 * again after the visibility timeout, and the queue's redrive policy moves it to the DLQ after
 * `maxReceiveCount` receives. Up to `concurrency` batches run at once, each gathered and processed by its own
 * poll loop, as the mapping's pollers do up to the stack's `maxConcurrency`.
 */

export interface SqsPollerOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  readonly handler: SQSHandler;
  readonly function: LocalFunction;
  readonly batchSize: number;
  readonly batchWindowMs: number;
  /**
   * Batches in flight at once (the stack's `processorMaxConcurrency`). They share the event loop with the
   * gateway and the receiver, but spend most of their time waiting on DynamoDB Local, and each loop yields to
   * pending I/O between batches, so HTTP requests keep being served.
   * @default 1
   */
  readonly concurrency?: number;
  /** Long-poll wait per ReceiveMessage (seconds, 0–20); the mapping uses 20. */
  readonly waitTimeSeconds?: number;
  readonly log?: (message: string, error?: unknown) => void;
}

export interface SqsPoller {
  /** Stops polling, lets the batches in progress finish, then resolves. */
  stop(): Promise<void>;
}

/** What one invocation's outcome means for the batch; exported for tests and logs. */
export type BatchOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'partial'; readonly failedMessageIds: ReadonlySet<string> }
  | { readonly kind: 'failure'; readonly reason: string };

/**
 * The mapping's reading of a handler's answer: no answer or an empty `batchItemFailures` = all succeeded;
 * listed ids = those failed; an answer it cannot read (an id not in the batch, an empty id) = all failed.
 */
export function interpretBatchResponse(response: unknown, batch: readonly SQSRecord[]): BatchOutcome {
  if (response === undefined || response === null) return { kind: 'success' };
  if (typeof response !== 'object') return { kind: 'success' };
  const failures = (response as Partial<SQSBatchResponse>).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'failure', reason: 'batchItemFailures is not an array' };
  if (failures.length === 0) return { kind: 'success' };
  const ids = new Set(batch.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures as unknown[]) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.has(id)) {
      return {
        kind: 'failure',
        reason: `invalid itemIdentifier ${JSON.stringify(id)} (the whole batch counts as failed)`,
      };
    }
    failed.add(id);
  }
  return { kind: 'partial', failedMessageIds: failed };
}

/** Lambda's shape of a message attribute: lists always present, binary as base64. */
function toRecordAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const result: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    result[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((bytes) => Buffer.from(bytes).toString('base64')),
      dataType: value.DataType ?? 'String',
    };
  }
  return result;
}

export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  const now = String(Date.now());
  const record: SQSRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ...attrs,
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
      SentTimestamp: attrs.SentTimestamp ?? now,
      SenderId: attrs.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? now,
    },
    messageAttributes: toRecordAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no listener behind either way. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const log = options.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''));
  const stopping = new AbortController();
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  // One controller per request, aborted by stop(): listeners are not piled up on one long-lived signal.
  const inFlight = new Set<AbortController>();

  async function receive(max: number, waitSeconds: number): Promise<Message[]> {
    if (stopping.signal.aborted) return [];
    const request = new AbortController();
    inFlight.add(request);
    try {
      const result = await options.client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, max),
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: request.signal },
      );
      return result.Messages ?? [];
    } finally {
      inFlight.delete(request);
    }
  }

  /**
   * A message whose visibility timeout ran out while the batch was being gathered can be received again:
   * keep it once, with the newest receipt handle (the older one no longer deletes it).
   */
  function addToBatch(batch: Message[], more: readonly Message[]): void {
    for (const message of more) {
      const index = batch.findIndex((existing) => existing.MessageId === message.MessageId);
      if (index === -1) batch.push(message);
      else batch[index] = message;
    }
  }

  /** First records by long poll; then more until the batch is full or the batching window has passed. */
  async function gatherBatch(): Promise<Message[]> {
    const batch = await receive(options.batchSize, waitTimeSeconds);
    if (batch.length === 0) return batch;
    const windowEnds = Date.now() + options.batchWindowMs;
    while (batch.length < options.batchSize && !stopping.signal.aborted) {
      const remaining = windowEnds - Date.now();
      // Without a window the mapping still fills a batch from what is immediately available.
      let more: Message[];
      try {
        more = await receive(options.batchSize - batch.length, 0);
      } catch (error) {
        // Records already received are invisible now: invoke with them rather than drop the batch.
        if (!stopping.signal.aborted) log('[sqs-poller] receive failed while gathering a batch', error);
        break;
      }
      addToBatch(batch, more);
      if (more.length === 0) {
        if (remaining <= 0) break;
        await sleep(Math.min(100, remaining), stopping.signal);
      }
    }
    return batch;
  }

  async function deleteMessages(records: readonly SQSRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 10) {
      const chunk = records.slice(i, i + 10);
      const result = await options.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
      for (const failed of result.Failed ?? []) {
        log(`[sqs-poller] could not delete a message: ${failed.Code ?? ''} ${failed.Message ?? ''}`);
      }
    }
  }

  /** Invokes the handler; deletes all, some or none of the records, as the mapping does. */
  async function processBatch(messages: readonly Message[]): Promise<void> {
    const records = messages.map((message) => toSqsRecord(message, options.queueArn, options.region));
    const event: SQSEvent = { Records: records };
    const name = options.function.functionName;
    let outcome: BatchOutcome;
    try {
      outcome = interpretBatchResponse(
        await invokeHandler(options.handler, event, options.function),
        records,
      );
    } catch (error) {
      // A throw, a rejection or a timeout: the invocation failed, nothing is deleted.
      log(`[sqs-poller] ${name} failed; ${records.length} record(s) will be retried`, error);
      return;
    }
    if (outcome.kind === 'failure') {
      log(`[sqs-poller] ${name}: ${outcome.reason}; ${records.length} record(s) will be retried`);
      return;
    }
    const failed = outcome.kind === 'partial' ? outcome.failedMessageIds : new Set<string>();
    if (failed.size > 0) {
      log(
        `[sqs-poller] ${name}: ${failed.size} of ${records.length} record(s) reported failed; they will be retried`,
      );
    }
    await deleteMessages(records.filter((record) => !failed.has(record.messageId)));
  }

  const pollLoop = async () => {
    while (!stopping.signal.aborted) {
      try {
        const batch = await gatherBatch();
        // Once a batch is received it is processed even when a stop arrives meanwhile: its messages are
        // already invisible, and finishing is what a draining mapping does too.
        if (batch.length > 0) await processBatch(batch);
        // Let queued I/O callbacks (gateway requests) run before this loop takes the next batch.
        await new Promise((resolve) => setImmediate(resolve));
      } catch (error) {
        if (stopping.signal.aborted) break;
        log('[sqs-poller] polling failed; retrying in 1 s', error);
        await sleep(1_000, stopping.signal);
      }
    }
  };
  const loops = Array.from({ length: Math.max(1, options.concurrency ?? 1) }, () => pollLoop());

  return {
    async stop() {
      stopping.abort();
      for (const request of inFlight) request.abort();
      await Promise.all(loops);
    },
  };
}
