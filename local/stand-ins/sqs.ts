import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { atMost } from '../startup.js';
import { deserializeError, startModuleThread, type SerializedError } from '../worker-thread.js';

/**
 * The SQS emulator (fauxqs, in memory: queued messages do not survive a restart), in a worker thread of its
 * own (./sqs-emulator-thread.ts): like SQS, it does not take turns with the gateway, the receiver and the
 * processor on their event loop, and a load uses the machine's other core for it.
 *
 * Two adjustments, both outside fauxqs's protocol handling:
 * - We build the fauxqs app and listen ourselves instead of calling `startFauxqs()`, which always listens on
 *   0.0.0.0; local mode keeps every stand-in on loopback.
 * - fauxqs names queues `http://sqs.<region>.localhost:<port>/<account>/<name>`. `*.localhost` does not
 *   resolve on every machine, and the SQS client sends each request to its QueueUrl's host when that differs
 *   from the endpoint (with a warning per call). So the emulator shows queue URLs as
 *   `http://127.0.0.1:<port>/<account>/<name>` (the endpoint's origin) and maps them back on the way in.
 */
export interface SqsEmulator {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface SqsEmulatorOptions {
  readonly port: number;
  readonly host?: string;
}

/** Messages from the emulator's thread. */
export type SqsEmulatorThreadMessage =
  | { readonly kind: 'listening'; readonly port: number }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  | { readonly kind: 'stopped' };

const EMULATOR_ENTRY = new URL('./sqs-emulator-thread.ts', import.meta.url);

export async function startSqsEmulator(options: SqsEmulatorOptions): Promise<SqsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const worker = startModuleThread(EMULATOR_ENTRY, { port: options.port, host });
  let stopped: (() => void) | undefined;
  let listening = false;
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('message', (message: SqsEmulatorThreadMessage) => {
      if (message.kind === 'listening') {
        listening = true;
        resolve(message.port);
      } else if (message.kind === 'failed') reject(deserializeError(message.error));
      else stopped?.();
    });
    worker.once('error', (error) => {
      if (listening) console.error('[sqs] the SQS emulator failed', error);
      reject(error);
    });
    worker.once('exit', (code) => {
      if (stopped) return stopped();
      if (listening) console.error(`[sqs] the SQS emulator's thread exited (${code})`);
      reject(new Error(`the SQS emulator's thread exited (${code}) before it listened`));
    });
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  return {
    endpoint: `http://${host}:${port}`,
    port,
    async stop() {
      const done = new Promise<void>((resolve) => (stopped = resolve));
      worker.postMessage({ kind: 'stop' });
      await atMost(done, EMULATOR_STOP_GRACE_MS);
      await worker.terminate();
    },
  };
}

/** A stop lets the emulator answer the requests in progress (fastify's close), but not for ever. */
const EMULATOR_STOP_GRACE_MS = 3_000;

const FAUXQS_QUEUE_URL = /http:\/\/sqs\.[a-z0-9-]+\.localhost(?::\d+)?\/(\d{12}\/[A-Za-z0-9_.-]+)/g;

/** The emulator itself, in the calling thread; `startSqsEmulator` runs it in its own. */
export async function serveSqsEmulator(options: SqsEmulatorOptions): Promise<SqsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const app = buildApp({ logger: false });
  let endpoint = '';
  // Loopback URL → fauxqs URL, learned from fauxqs's own answers (CreateQueue, GetQueueUrl, ListQueues).
  const internalUrls = new Map<string, string>();

  app.addHook('preHandler', async (request) => {
    const body: unknown = request.body;
    if (typeof body !== 'object' || body === null || !('QueueUrl' in body)) return;
    const input = body as { QueueUrl: unknown };
    if (typeof input.QueueUrl === 'string')
      input.QueueUrl = internalUrls.get(input.QueueUrl) ?? input.QueueUrl;
  });
  app.addHook('onSend', async (_request, _reply, payload: unknown) => {
    if (typeof payload !== 'string') return payload;
    return payload.replace(FAUXQS_QUEUE_URL, (internal: string, path: string) => {
      const external = `${endpoint}/${path}`;
      internalUrls.set(external, internal);
      return external;
    });
  });

  await app.listen({ port: options.port, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  endpoint = `http://${host}:${port}`;
  return {
    endpoint,
    port,
    async stop() {
      await app.close();
    },
  };
}

/** An SQS client for local stand-ins: explicit endpoint and dummy credentials, never real AWS. */
export function localSqsClient(endpoint: string, region: string): SQSClient {
  return new SQSClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export interface WebhookQueueOptions {
  readonly name: string;
  readonly dlqName: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

export interface WebhookQueues {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
}

/** 14 days, SQS's maximum; the stack keeps DLQ messages that long so a redrive is still possible. */
const DLQ_RETENTION_SECONDS = 1_209_600;

/**
 * Creates the webhook queue and its dead-letter queue the way the CDK stack does: a standard queue with
 * the visibility timeout and a `RedrivePolicy` moving a message to the DLQ after `maxReceiveCount` receives.
 * Idempotent: an existing queue keeps its messages and gets the current settings.
 */
export async function createWebhookQueues(
  client: SQSClient,
  options: WebhookQueueOptions,
): Promise<WebhookQueues> {
  const dlqUrl = await ensureQueue(client, options.dlqName, {
    MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
  });
  const dlqArn = await queueArn(client, dlqUrl);
  const queueUrl = await ensureQueue(client, options.name, {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount }),
  });
  return { queueUrl, queueArn: await queueArn(client, queueUrl), dlqUrl, dlqArn };
}

/**
 * CreateQueue with attributes fails on an existing queue whose attributes differ, so create it bare and set
 * the attributes afterwards: the same call works on a fresh and on an existing queue.
 */
async function ensureQueue(
  client: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  const created = await client.send(new CreateQueueCommand({ QueueName: name }));
  const url = requireValue(created.QueueUrl, `URL of queue ${name}`);
  await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  return url;
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const result = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return requireValue(result.Attributes?.QueueArn, `ARN of ${queueUrl}`);
}

function requireValue<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`SQS emulator returned no ${what}`);
  return value;
}
