import {
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { createWebhookQueues, localSqsClient } from '../../local/stand-ins/sqs.js';
import { useSqsEmulator } from '../support/sqs-emulator.js';

const emulator = useSqsEmulator();

describe('SQS emulator', () => {
  it('creates the queue and its DLQ with the stack’s redrive policy, idempotently', async () => {
    const client = localSqsClient(emulator.endpoint, 'us-east-1');
    const options = { name: 'hooks', dlqName: 'hooks-dlq', visibilityTimeoutSeconds: 7, maxReceiveCount: 3 };
    const first = await createWebhookQueues(client, options);
    const again = await createWebhookQueues(client, options);
    expect(again).toEqual(first);
    expect(first.queueUrl).toBe(`${emulator.endpoint}/000000000000/hooks`);
    expect(first.dlqUrl).toBe(`${emulator.endpoint}/000000000000/hooks-dlq`);
    expect(first.queueArn).toBe('arn:aws:sqs:us-east-1:000000000000:hooks');
    client.destroy();
  });

  it('serves loopback queue URLs that a client configured only through AWS_ENDPOINT_URL_SQS can use', async () => {
    const setup = localSqsClient(emulator.endpoint, 'us-east-1');
    const { queueUrl } = await createWebhookQueues(setup, {
      name: 'env-queue',
      dlqName: 'env-queue-dlq',
      visibilityTimeoutSeconds: 5,
      maxReceiveCount: 2,
    });
    expect((await setup.send(new GetQueueUrlCommand({ QueueName: 'env-queue' }))).QueueUrl).toBe(queueUrl);
    expect((await setup.send(new ListQueuesCommand({ QueueNamePrefix: 'env-queue' }))).QueueUrls).toContain(
      queueUrl,
    );
    setup.destroy();

    const saved = { ...process.env };
    const warn = vi.spyOn(console, 'warn');
    try {
      // Exactly how the receiver builds its client: no endpoint in code, the env points at the emulator.
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_SQS: emulator.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      });
      const client = new SQSClient({ maxAttempts: 1 });
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'via env' }));
      const { Messages } = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }),
      );
      expect(Messages?.[0]?.Body).toBe('via env');
      // No "QueueUrl differs from SQSClient resolved endpoint" redirect.
      expect(warn).not.toHaveBeenCalled();
      client.destroy();
    } finally {
      warn.mockRestore();
      process.env = saved;
    }
  });
});
