import { createServer } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LocalConfig } from './config.js';
import { startDynamoDbLocal } from './dynamodb-local.js';
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_SECONDS,
  LOCAL_FUNCTIONS,
  type HttpFunction,
  type LocalFunctions,
  type QueueFunction,
} from './functions.js';
import { startHttpGateway, type Route } from './http-gateway.js';
import type { LocalFunction } from './lambda-runtime.js';
import { applyLambdaEnvironment, functionEnvironment, lambdaEnvironment } from './lambda-env.js';
import { startSecretsManagerFake } from './secrets-manager-fake.js';
import { createWebhookQueues, localSqsClient, startSqsEmulator, type WebhookQueues } from './sqs-emulator.js';
import { startSqsPoller } from './sqs-poller.js';
import { ensureTables } from './tables.js';

/**
 * Starts the whole product locally: the stand-ins for AWS, then the real Lambda handlers on top of them.
 * Resource names are fixed local names (in AWS the stack generates them and passes them through the env).
 */

export const LOCAL_NAMES = {
  vehicleTable: 'smartcar-local-vehicles',
  idempotencyTable: 'smartcar-local-idempotency',
  queue: 'smartcar-local-webhooks',
  deadLetterQueue: 'smartcar-local-webhooks-dlq',
  secret: 'smartcar-local/smartcar-app',
} as const;

export interface RunningLocalStack {
  readonly url: string;
  readonly routes: readonly string[];
  readonly dynamoDbEndpoint: string;
  readonly dynamoDbPath: string;
  readonly sqsEndpoint: string;
  readonly queues: WebhookQueues;
  readonly secretsManagerEndpoint: string;
  readonly secretId: string;
  stop(): Promise<void>;
}

type Log = (line: string, error?: unknown) => void;

const defaultLog: Log = (line, error) =>
  error === undefined ? console.log(line) : console.error(line, error);

/** Fails early with the variable to change, instead of an emulator dying with EADDRINUSE later. */
async function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is already in use: stop what uses it or set ${variable}`
            : `cannot listen on ${host}:${port} (${variable}): ${error.message}`,
        ),
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

export async function startLocalStack(
  config: LocalConfig,
  functions: LocalFunctions = LOCAL_FUNCTIONS,
  log: Log = defaultLog,
): Promise<RunningLocalStack> {
  const loopback = '127.0.0.1';
  // Everything started so far, stopped in reverse order on failure or on stop().
  const stoppers: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const { name, stop } of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`[local] stopping ${name} failed`, error);
      }
    }
  };

  try {
    await assertPortFree(config.host, config.port, 'PORT');
    await assertPortFree(loopback, config.dynamoDbPort, 'LOCAL_DYNAMODB_PORT');
    await assertPortFree(loopback, config.sqsPort, 'LOCAL_SQS_PORT');
    await assertPortFree(loopback, config.secretsPort, 'LOCAL_SECRETS_PORT');

    // The three stand-ins are independent; DynamoDB Local (a JVM) is by far the slowest, so start them together.
    const dynamoDbPath = join(config.dataDir, 'dynamodb');
    const [dynamoResult, sqsResult, secretsResult] = await Promise.allSettled([
      startDynamoDbLocal({ port: config.dynamoDbPort, dbPath: dynamoDbPath, host: loopback }),
      startSqsEmulator({ port: config.sqsPort, host: loopback }),
      startSecretsManagerFake({
        port: config.secretsPort,
        host: loopback,
        region: config.region,
        secrets: [
          { name: LOCAL_NAMES.secret, value: smartcarSecretValue(config), description: 'local mode' },
        ],
      }),
    ]);
    // Register whatever did start before failing on what did not, so nothing is left running.
    for (const [name, result] of [
      ['DynamoDB Local', dynamoResult],
      ['SQS emulator', sqsResult],
      ['Secrets Manager fake', secretsResult],
    ] as const) {
      if (result.status === 'fulfilled') stoppers.push({ name, stop: () => result.value.stop() });
    }
    const dynamo = valueOf(dynamoResult);
    const sqs = valueOf(sqsResult);
    const secrets = valueOf(secretsResult);

    const dynamoClient = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: config.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await ensureTables(dynamoClient, {
        vehicleTable: LOCAL_NAMES.vehicleTable,
        idempotencyTable: LOCAL_NAMES.idempotencyTable,
      });
    } finally {
      dynamoClient.destroy();
    }

    const sqsClient = localSqsClient(sqs.endpoint, config.region);
    stoppers.push({ name: 'SQS client', stop: async () => sqsClient.destroy() });
    const queues = await createWebhookQueues(sqsClient, {
      name: LOCAL_NAMES.queue,
      dlqName: LOCAL_NAMES.deadLetterQueue,
      visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
      maxReceiveCount: config.queue.maxReceiveCount,
    });

    const secretId = secrets.arnOf(LOCAL_NAMES.secret);
    applyLambdaEnvironment(
      lambdaEnvironment(config, {
        dynamoDbEndpoint: dynamo.endpoint,
        sqsEndpoint: sqs.endpoint,
        secretsManagerEndpoint: secrets.endpoint,
        queueUrl: queues.queueUrl,
        secretId,
        vehicleTableName: LOCAL_NAMES.vehicleTable,
        idempotencyTableName: LOCAL_NAMES.idempotencyTable,
      }),
    );

    const localFunction = (fn: HttpFunction | QueueFunction): LocalFunction => ({
      functionName: fn.name,
      timeoutMs: (config.functionTimeoutSeconds ?? fn.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      memoryLimitInMB: fn.memoryMB ?? DEFAULT_MEMORY_MB,
      region: config.region,
    });
    // Import one function at a time, each with its own name in the env: its cold start.
    const coldStart = async <T>(name: string, load: () => Promise<T>): Promise<T> => {
      Object.assign(process.env, functionEnvironment(name));
      return load();
    };

    const routes: Route[] = [];
    for (const fn of functions.http) {
      const { handler } = await coldStart(fn.name, fn.load);
      routes.push({ routeKey: fn.routeKey, handler, function: localFunction(fn) });
    }
    const processor = functions.webhookProcessor;
    const { handler: processorHandler } = await coldStart(processor.name, processor.load);

    const poller = startSqsPoller({
      client: sqsClient,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      region: config.region,
      handler: processorHandler,
      function: localFunction(processor),
      batchSize: config.queue.batchSize,
      batchWindowMs: config.queue.batchWindowMs,
      log,
    });
    // A batch in progress gets a few seconds to finish; the shutdown must not wait out a 30 s function
    // timeout, or the process could be killed before DynamoDB Local (stopped last) is.
    stoppers.push({ name: 'SQS poller', stop: () => atMost(poller.stop(), POLLER_STOP_GRACE_MS) });

    const gateway = await startHttpGateway({
      port: config.port,
      host: config.host,
      routes,
      onError: (routeKey, error) => log(`[http] ${routeKey}: the function failed (answered 500)`, error),
    });
    stoppers.push({ name: 'HTTP API', stop: () => gateway.stop() });

    return {
      url: gateway.url,
      routes: routes.map((route) => route.routeKey),
      dynamoDbEndpoint: dynamo.endpoint,
      dynamoDbPath,
      sqsEndpoint: sqs.endpoint,
      queues,
      secretsManagerEndpoint: secrets.endpoint,
      secretId,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const POLLER_STOP_GRACE_MS = 5_000;

/** Waits for `promise`, but no longer than `ms`. */
async function atMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function valueOf<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** The secret's JSON as the stack stores it in Secrets Manager (docs/design.md, "The Smartcar secret"). */
export function smartcarSecretValue(config: LocalConfig): string {
  const { clientId, clientSecret, managementToken, previousManagementToken } = config.smartcar;
  return JSON.stringify({
    clientId,
    clientSecret,
    managementToken,
    ...(previousManagementToken ? { previousManagementToken } : {}),
  });
}
