import {
  ListMessageMoveTasksCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_NAMES } from '../../local/stack.js';
import { createWebhookQueues, type WebhookQueues } from '../../local/stand-ins/sqs.js';
import { runRedrive } from '../../ops/redrive-cli.js';
import { freePort } from '../support/ports.js';
import { useSqsEmulator } from '../support/sqs-emulator.js';

/**
 * `npm run redrive` against local mode's SQS emulator (which has no StartMessageMoveTask) and, with SQS mocked,
 * against a deployed stack.
 */

const sqs = useSqsEmulator();
let queues: WebhookQueues;
let output: string[];

const log = (line: string) => output.push(line);
const localEnv = () => ({ LOCAL_SQS_PORT: String(sqs.port) });

async function receiveAll(queueUrl: string): Promise<Message[]> {
  const { Messages = [] } = await sqs.client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    }),
  );
  return Messages;
}

beforeAll(async () => {
  queues = await createWebhookQueues(sqs.client, {
    name: LOCAL_NAMES.queue,
    dlqName: LOCAL_NAMES.deadLetterQueue,
    visibilityTimeoutSeconds: 30,
    maxReceiveCount: 5,
  });
});

beforeEach(async () => {
  output = [];
  for (const url of [queues.queueUrl, queues.dlqUrl]) {
    while ((await receiveAll(url)).length > 0) {
      // drain (received messages stay invisible for the rest of the test)
    }
  }
});

describe('npm run redrive against local mode', () => {
  it('--dry-run shows the count and moves nothing', async () => {
    for (const id of ['e-1', 'e-2', 'e-3']) {
      await sqs.client.send(
        new SendMessageCommand({ QueueUrl: queues.dlqUrl, MessageBody: `{"eventId":"${id}"}` }),
      );
    }
    expect(await runRedrive(['--dry-run'], { env: localEnv(), log })).toBe(0);
    const text = output.join('\n');
    expect(text).toMatch(/webhooks: 3 message\(s\) waiting .*would move 3 back \(dry run/);
    const after = await sqs.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queues.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(after.Attributes?.ApproximateNumberOfMessages).toBe('3');
  });

  it('moves every DLQ message back to the webhook queue with its body and attributes', async () => {
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: queues.dlqUrl,
        MessageBody: '{"eventId":"e-9"}',
        MessageAttributes: { eventId: { DataType: 'String', StringValue: 'e-9' } },
      }),
    );
    expect(await runRedrive(['--queue', 'webhooks'], { env: localEnv(), log })).toBe(0);
    expect(output.join('\n')).toContain('moved 1 back');
    const moved = await receiveAll(queues.queueUrl);
    expect(moved.map((message) => message.Body)).toEqual(['{"eventId":"e-9"}']);
    expect(moved[0]?.MessageAttributes?.eventId?.StringValue).toBe('e-9');
    expect(await receiveAll(queues.dlqUrl)).toHaveLength(0);
  });

  it('says what to do when local mode is not running', async () => {
    expect(await runRedrive(['--dry-run'], { env: { LOCAL_SQS_PORT: String(await freePort()) }, log })).toBe(
      1,
    );
    expect(output.join('\n')).toContain('is `npm start` running?');
  });

  it('refuses an unknown queue with the usage', async () => {
    expect(await runRedrive(['--queue', 'nope'], { env: localEnv(), log })).toBe(2);
    expect(output.join('\n')).toContain('Usage: npm run redrive');
  });
});

describe('npm run redrive against a deployed stack', () => {
  // An instance mock: the emulator's client above stays real.
  const awsClient = new SQSClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const sqs = mockClient(awsClient);
  const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/Smartcar-prod-Dlq';
  const DLQ_ARN = 'arn:aws:sqs:eu-west-1:123456789012:Smartcar-prod-Dlq';
  const calls: string[][] = [];
  const exec = async (file: string, args: readonly string[]) => {
    calls.push([file, ...args]);
    return JSON.stringify([
      { OutputKey: 'DeadLetterQueueUrl', OutputValue: DLQ_URL },
      { OutputKey: 'TokenRefreshDeadLetterQueueUrl', OutputValue: `${DLQ_URL}-refresh` },
    ]);
  };
  const deps = () => ({ exec, log, client: () => awsClient });

  beforeEach(() => {
    sqs.reset();
    calls.length = 0;
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: '4',
        ApproximateNumberOfMessagesNotVisible: '1',
        QueueArn: DLQ_ARN,
      },
    });
    sqs.on(ListMessageMoveTasksCommand).resolves({ Results: [] });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'task-1' });
  });

  it('finds the DLQs in the stack outputs and only counts on --dry-run', async () => {
    expect(await runRedrive(['--stage', 'prod', '--region', 'eu-west-1', '--dry-run'], deps())).toBe(0);
    expect(calls[0]).toEqual([
      'aws',
      'cloudformation',
      'describe-stacks',
      '--stack-name',
      'Smartcar-prod',
      '--query',
      'Stacks[0].Outputs',
      '--output',
      'json',
      '--region',
      'eu-west-1',
    ]);
    expect(output.join('\n')).toMatch(/webhooks: 4 message\(s\) waiting, 1 in flight .*would move 4/);
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)).toHaveLength(0);
  });

  it('starts one SQS message move task back to the source queue, and never for the refresh DLQ', async () => {
    expect(await runRedrive(['--stack', 'Smartcar-prod'], deps())).toBe(0);
    const started = sqs.commandCalls(StartMessageMoveTaskCommand);
    expect(started).toHaveLength(1);
    // No DestinationArn: SQS returns each message to the queue it came from.
    expect(started[0]?.args[0].input).toEqual({ SourceArn: DLQ_ARN });
    const text = output.join('\n');
    expect(text).toContain('move task started (task-1)');
    expect(text).toMatch(/refresh: .*not redriven/);
  });

  it('does not start a second move task while one is running', async () => {
    sqs.on(ListMessageMoveTasksCommand).resolves({ Results: [{ Status: 'RUNNING', TaskHandle: 'task-0' }] });
    expect(await runRedrive(['--dlq-url', DLQ_URL, '--queue', 'webhooks'], deps())).toBe(0);
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)).toHaveLength(0);
    expect(output.join('\n')).toContain('already running (task-0)');
  });
});
