import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DeadLetterQueueSpec } from './dead-letter-queues.js';

/** A dead-letter queue resolved to URLs in one target (a deployed stack or local mode). */
export interface ResolvedQueue {
  readonly spec: DeadLetterQueueSpec;
  readonly dlqUrl: string;
  /** Where a local move sends messages; on AWS the move task returns them to their source queue. */
  readonly sourceUrl?: string;
}

export interface QueueCounts {
  /** Waiting messages. */
  readonly visible: number;
  /** Received by somebody (e.g. an operator reading them) and not yet visible again. */
  readonly inFlight: number;
}

export type RedriveOutcome =
  | { readonly kind: 'empty' }
  | { readonly kind: 'dry-run' }
  | { readonly kind: 'not-redrivable'; readonly note: string }
  | { readonly kind: 'already-moving'; readonly taskHandle?: string }
  | { readonly kind: 'move-task-started'; readonly taskHandle: string }
  | { readonly kind: 'moved'; readonly moved: number };

export interface RedriveResult {
  readonly name: string;
  readonly dlqUrl: string;
  readonly counts: QueueCounts;
  readonly outcome: RedriveOutcome;
}

export async function countMessages(client: SQSClient, queueUrl: string): Promise<QueueCounts> {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  if (!Attributes?.QueueArn) throw new Error(`no QueueArn for ${queueUrl}`);
  return Attributes.QueueArn;
}

export async function queueUrl(client: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`no URL for queue ${name}`);
  return QueueUrl;
}

/**
 * AWS: one SQS message move task from the DLQ back to the queues its messages came from. SQS refuses a
 * second task on the same DLQ, so a running one is reported instead of an error.
 */
export async function startMoveTask(
  client: SQSClient,
  dlqUrl: string,
): Promise<Extract<RedriveOutcome, { kind: 'already-moving' | 'move-task-started' }>> {
  const sourceArn = await queueArn(client, dlqUrl);
  const { Results = [] } = await client.send(
    new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }),
  );
  const running = Results.find((task) => task.Status === 'RUNNING');
  if (running) return { kind: 'already-moving', taskHandle: running.TaskHandle };
  const { TaskHandle } = await client.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn }));
  if (!TaskHandle) throw new Error(`SQS started no move task for ${dlqUrl}`);
  return { kind: 'move-task-started', taskHandle: TaskHandle };
}

/**
 * Local mode: the SQS emulator has no StartMessageMoveTask, so move by hand: receive a batch, send it to the
 * source queue (body and message attributes unchanged), and delete from the DLQ only what was sent. At most
 * `limit` messages (the count shown first), so messages that fail again and come back are not looped over.
 */
export async function moveMessages(
  client: SQSClient,
  from: string,
  to: string,
  limit: number,
): Promise<number> {
  let moved = 0;
  while (moved < limit) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: from,
        MaxNumberOfMessages: Math.min(10, limit - moved),
        MessageAttributeNames: ['All'],
        VisibilityTimeout: 60,
        WaitTimeSeconds: 0,
      }),
    );
    if (Messages.length === 0) break;
    const entries = Messages.map((message, index) => ({ message, id: String(index) }));
    const sent = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: to,
        Entries: entries.map(({ message, id }) => ({
          Id: id,
          MessageBody: message.Body ?? '',
          ...(message.MessageAttributes && { MessageAttributes: message.MessageAttributes }),
        })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((entry) => entry.Id));
    const done = entries.filter(({ id }) => ok.has(id));
    if (done.length > 0) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: from,
          Entries: done.map(({ message, id }) => ({ Id: id, ReceiptHandle: message.ReceiptHandle ?? '' })),
        }),
      );
    }
    moved += done.length;
    // A message the source queue refused stays in the DLQ (visible again after 60 s): stop rather than spin.
    if (done.length < entries.length) break;
  }
  return moved;
}

export interface RedriveOptions {
  readonly client: SQSClient;
  readonly queues: readonly ResolvedQueue[];
  readonly target: 'aws' | 'local';
  readonly dryRun: boolean;
}

/** Counts every queue first, then (unless dry-run) moves what is redrivable and not empty. */
export async function redrive(options: RedriveOptions): Promise<RedriveResult[]> {
  const { client } = options;
  const counted = await Promise.all(
    options.queues.map(async (queue) => ({ queue, counts: await countMessages(client, queue.dlqUrl) })),
  );
  const results: RedriveResult[] = [];
  for (const { queue, counts } of counted) {
    const base = { name: queue.spec.name, dlqUrl: queue.dlqUrl, counts };
    let outcome: RedriveOutcome;
    if (!queue.spec.redrivable) outcome = { kind: 'not-redrivable', note: queue.spec.note ?? '' };
    else if (counts.visible === 0) outcome = { kind: 'empty' };
    else if (options.dryRun) outcome = { kind: 'dry-run' };
    else if (options.target === 'aws') outcome = await startMoveTask(client, queue.dlqUrl);
    else if (queue.sourceUrl === undefined) throw new Error(`no source queue for ${queue.spec.name}`);
    else
      outcome = {
        kind: 'moved',
        moved: await moveMessages(client, queue.dlqUrl, queue.sourceUrl, counts.visible),
      };
    results.push({ ...base, outcome });
  }
  return results;
}

/** One line per queue, for the terminal. */
export function describeResult(result: RedriveResult): string {
  const { visible, inFlight } = result.counts;
  const counts = `${visible} message(s) waiting${inFlight > 0 ? `, ${inFlight} in flight` : ''}`;
  const head = `${result.name}: ${counts} in ${result.dlqUrl}`;
  switch (result.outcome.kind) {
    case 'empty':
      return `${head}: nothing to redrive`;
    case 'dry-run':
      return `${head}: would move ${visible} back (dry run, nothing moved)`;
    case 'not-redrivable':
      return `${head}: not redriven: ${result.outcome.note}`;
    case 'already-moving':
      return `${head}: a move task is already running (${result.outcome.taskHandle ?? 'no handle'})`;
    case 'move-task-started':
      return (
        `${head}: move task started (${result.outcome.taskHandle}); follow it with ` +
        '`aws sqs list-message-move-tasks --source-arn <DLQ ARN>`'
      );
    case 'moved':
      return `${head}: moved ${result.outcome.moved} back to the source queue`;
  }
}
