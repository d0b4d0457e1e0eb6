import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FUNCTIONS } from '../contracts/index.js';
import type { LocalConfig } from './config.js';
import { startDynamoDbLocal } from './stand-ins/dynamodb-local.js';
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_SECONDS,
  LOCAL_FUNCTIONS,
  type HttpFunction,
  type LocalFunctions,
  type QueueFunction,
  type ScheduledFunction,
  type RouteAuth,
} from './runtime/functions.js';
import { startFakeSmartcar, type FakeSmartcar, type FakeVehicleInit } from './stand-ins/smartcar/index.js';
import { startHttpGateway, type Route } from './runtime/http-gateway.js';
import { startKmsFake } from './stand-ins/kms.js';
import type { LocalFunction } from './runtime/lambda-runtime.js';
import {
  applyFunctionEnvironment,
  applyLambdaEnvironment,
  commonEnvironment,
  lambdaEnvironment,
} from './runtime/lambda-env.js';
import { LOCAL_PAGES } from './routes/pages.js';
import { grantsRoute } from './routes/grants.js';
import { runJobRoute, startSchedule } from './runtime/scheduler.js';
import { startSecretsManagerFake } from './stand-ins/secrets-manager.js';
import {
  createWebhookQueues,
  localSqsClient,
  startSqsEmulator,
  type WebhookQueues,
} from './stand-ins/sqs.js';
import { startSqsPoller, type SqsPoller } from './runtime/sqs-poller.js';
import { startSqsPollerThread } from './runtime/sqs-poller-thread.js';
import { ensureTables } from './stand-ins/dynamodb-tables.js';
import { assertPortFree, atMost, valueOf } from './startup.js';
import { routeKey, SUBSCRIPTION_MAX_ATTEMPTS, VEHICLE_SUBSCRIPTIONS_PATH } from '../contracts/index.js';

/**
 * Starts the whole product locally: the stand-ins for AWS, then the real Lambda handlers on top of them.
 * Resource names are fixed local names (in AWS the stack generates them and passes them through the env).
 */

export const LOCAL_NAMES = {
  vehicleTable: 'smartcar-local-vehicles',
  oauthStateTable: 'smartcar-local-oauth-states',
  tokenTable: 'smartcar-local-tokens',
  commandAuditTable: 'smartcar-local-command-audit',
  queue: 'smartcar-local-webhooks',
  deadLetterQueue: 'smartcar-local-webhooks-dlq',
  subscriptionQueue: 'smartcar-local-subscriptions',
  subscriptionDeadLetterQueue: 'smartcar-local-subscriptions-dlq',
  recoveryQueue: 'smartcar-local-token-recovery',
  recoveryDeadLetterQueue: 'smartcar-local-token-recovery-dlq',
  secret: 'smartcar-local/smartcar-app',
  /** The token key; the KMS stand-in derives a stable key id (and ARN) from it. */
  tokenKeyAlias: 'alias/smartcar-local-tokens',
} as const;

/** The master key of the KMS stand-in, in the data directory: stored tokens still decrypt after a restart. */
export const KMS_MASTER_KEY_FILE = 'kms-master.key';

/** What every Connect through the fake Smartcar authorizes: a new Smartcar user with these vehicles. */
export const FAKE_SMARTCAR_VEHICLES: readonly FakeVehicleInit[] = [
  { make: 'TESLA', model: 'Model 3', year: 2021 },
  { make: 'VOLKSWAGEN', model: 'ID.4', year: 2023 },
];

export interface LocalRoute {
  readonly routeKey: string;
  /** How AWS authorizes it (locally nothing is enforced). */
  readonly auth: RouteAuth;
  readonly functionName: string;
}

export interface RunningLocalStack {
  readonly url: string;
  /** The Lambda routes, in table order. */
  readonly routes: readonly LocalRoute[];
  /** Route keys of the local-only pages (local/routes/pages.ts), served by the same HTTP API. */
  readonly pages: readonly string[];
  /** Route keys that run a scheduled job once (local only). */
  readonly jobs: readonly string[];
  readonly dynamoDbEndpoint: string;
  readonly dynamoDbPath: string;
  readonly sqsEndpoint: string;
  readonly queues: WebhookQueues;
  /** The webhook subscription queue and its DLQ (lib/features/webhook-subscriptions.ts). */
  readonly subscriptionQueues: WebhookQueues;
  /** The token refresh's recovery queue and its DLQ. */
  readonly recoveryQueues: WebhookQueues;
  readonly secretsManagerEndpoint: string;
  readonly secretId: string;
  readonly kmsEndpoint: string;
  /** TOKEN_KEY_ID of the Lambdas: an ARN in the KMS stand-in. */
  readonly tokenKeyId: string;
  readonly kmsMasterKeyFile: string;
  /** Set with `--fake-smartcar`; undefined when the Lambdas talk to the real Smartcar. */
  readonly fakeSmartcar: FakeSmartcar | undefined;
  stop(): Promise<void>;
}

type Log = (line: string, error?: unknown) => void;

const defaultLog: Log = (line, error) =>
  error === undefined ? console.log(line) : console.error(line, error);

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
    await assertPortFree(loopback, config.kmsPort, 'LOCAL_KMS_PORT');
    if (config.fakeSmartcar.enabled) {
      await assertPortFree(loopback, config.fakeSmartcar.port, 'LOCAL_FAKE_SMARTCAR_PORT');
    }

    // The stand-ins are independent; DynamoDB Local (a JVM) is by far the slowest, so start them together.
    const dynamoDbPath = join(config.dataDir, 'dynamodb');
    const kmsMasterKeyFile = join(config.dataDir, KMS_MASTER_KEY_FILE);
    const [dynamoResult, sqsResult, secretsResult, kmsResult, smartcarResult] = await Promise.allSettled([
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
      startKmsFake({
        port: config.kmsPort,
        host: loopback,
        region: config.region,
        masterKeyFile: kmsMasterKeyFile,
        // Like the account in AWS: only the token key exists, any other key id is NotFoundException.
        keys: [LOCAL_NAMES.tokenKeyAlias],
      }),
      config.fakeSmartcar.enabled
        ? startFakeSmartcar({
            port: config.fakeSmartcar.port,
            host: loopback,
            clientId: config.smartcar.clientId,
            clientSecret: config.smartcar.clientSecret,
            managementToken: config.smartcar.managementToken,
            // "Registered in the Dashboard": Connect and the code exchange accept only this redirect URI.
            redirectUris: [config.smartcar.redirectUri],
            defaultVehicles: FAKE_SMARTCAR_VEHICLES,
            log: (line) => log(`[fake-smartcar] ${line.replace(/^fake-smartcar: /, '')}`),
          })
        : Promise.resolve(undefined),
    ]);
    // Register whatever did start before failing on what did not, so nothing is left running.
    for (const [name, result] of [
      ['DynamoDB Local', dynamoResult],
      ['SQS emulator', sqsResult],
      ['Secrets Manager fake', secretsResult],
      ['KMS fake', kmsResult],
      ['fake Smartcar', smartcarResult],
    ] as const) {
      if (result.status === 'fulfilled' && result.value !== undefined) {
        const started = result.value;
        stoppers.push({ name, stop: () => started.stop() });
      }
    }
    const dynamo = valueOf(dynamoResult);
    const sqs = valueOf(sqsResult);
    const secrets = valueOf(secretsResult);
    const kms = valueOf(kmsResult);
    const fakeSmartcar = valueOf(smartcarResult);
    const tokenKeyId = kms.keyArn(LOCAL_NAMES.tokenKeyAlias);

    const dynamoClient = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: config.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await ensureTables(dynamoClient, {
        vehicleTable: LOCAL_NAMES.vehicleTable,
        oauthStateTable: LOCAL_NAMES.oauthStateTable,
        tokenTable: LOCAL_NAMES.tokenTable,
        commandAuditTable: LOCAL_NAMES.commandAuditTable,
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
    // The token refresh's recovery queue with its DLQ, as in the stack (lib/constructs/token-recovery-queue.ts).
    const recoveryQueues = await createWebhookQueues(sqsClient, {
      name: LOCAL_NAMES.recoveryQueue,
      dlqName: LOCAL_NAMES.recoveryDeadLetterQueue,
      visibilityTimeoutSeconds: FUNCTIONS.tokenRefresh.timeoutSeconds,
      maxReceiveCount: 10,
    });

    const subscriptionQueues = await createWebhookQueues(sqsClient, {
      name: LOCAL_NAMES.subscriptionQueue,
      dlqName: LOCAL_NAMES.subscriptionDeadLetterQueue,
      visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
      // The stack's SUBSCRIPTION_MAX_ATTEMPTS: the worker marks FAILED on the receive before the DLQ.
      maxReceiveCount: SUBSCRIPTION_MAX_ATTEMPTS,
    });

    const secretId = secrets.arnOf(LOCAL_NAMES.secret);
    const lambdaEnv = lambdaEnvironment(config, {
      dynamoDbEndpoint: dynamo.endpoint,
      sqsEndpoint: sqs.endpoint,
      secretsManagerEndpoint: secrets.endpoint,
      kmsEndpoint: kms.endpoint,
      queueUrl: queues.queueUrl,
      subscriptionQueueUrl: subscriptionQueues.queueUrl,
      recoveryQueueUrl: recoveryQueues.queueUrl,
      secretId,
      vehicleTableName: LOCAL_NAMES.vehicleTable,
      oauthStateTableName: LOCAL_NAMES.oauthStateTable,
      tokenTableName: LOCAL_NAMES.tokenTable,
      commandAuditTableName: LOCAL_NAMES.commandAuditTable,
      tokenKeyId,
      ...(fakeSmartcar ? { smartcarOrigins: fakeSmartcar.env } : {}),
    });
    applyLambdaEnvironment(commonEnvironment(lambdaEnv));

    const localFunction = (fn: HttpFunction | QueueFunction | ScheduledFunction): LocalFunction => ({
      functionName: fn.name,
      timeoutMs: (config.functionTimeoutSeconds ?? fn.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      memoryLimitInMB: fn.memoryMB ?? DEFAULT_MEMORY_MB,
      region: config.region,
    });
    // Import one function at a time, each with its own name and variables in the env: its cold start.
    const coldStart = async <T>(name: string, load: () => Promise<T>): Promise<T> => {
      applyFunctionEnvironment(name, lambdaEnv);
      return load();
    };

    const routes: Route[] = [];
    const localRoutes: LocalRoute[] = [];
    for (const fn of functions.http) {
      // One import per function, whatever its number of routes: they share the handler, as they share
      // the Lambda in AWS.
      const { handler } = await coldStart(fn.name, fn.load);
      for (const { routeKey, auth } of fn.routes) {
        routes.push({ routeKey, handler, function: localFunction(fn) });
        localRoutes.push({ routeKey, auth, functionName: fn.name });
      }
    }
    // The Connect landing pages: in-process handlers, not Lambdas (they stand in for the app's pages).
    const pagesFunction: LocalFunction = {
      functionName: 'local-pages',
      timeoutMs: 5_000,
      region: config.region,
    };
    for (const localPage of LOCAL_PAGES) {
      routes.push({ routeKey: localPage.routeKey, handler: localPage.handler, function: pagesFunction });
    }
    // The token refresh job: the EventBridge schedule's stand-in, plus an on-demand route (local only).
    const refresh = functions.tokenRefresh;
    const { handler: refreshHandler } = await coldStart(refresh.name, refresh.load);
    const refreshJob = startSchedule({
      handler: refreshHandler,
      function: localFunction(refresh),
      ruleName: refresh.ruleName,
      intervalMs: config.tokenRefreshIntervalMs,
      log,
    });
    stoppers.push({
      name: 'token refresh schedule',
      stop: () => atMost(refreshJob.stop(), POLLER_STOP_GRACE_MS),
    });
    routes.push({
      routeKey: refresh.runRouteKey,
      handler: runJobRoute(refreshJob),
      function: localFunction(refresh),
    });
    // The connection life-cycle jobs: the same stand-in for their schedules, and their on-demand routes.
    const connectionJobs = functions.connectionJobs ?? [];
    for (const job of connectionJobs) {
      const { handler: jobHandler } = await coldStart(job.name, job.load);
      const running = startSchedule({
        handler: jobHandler,
        function: localFunction(job),
        ruleName: job.ruleName,
        intervalMs: job.intervalMs,
        log,
      });
      stoppers.push({
        name: `${job.name} schedule`,
        stop: () => atMost(running.stop(), POLLER_STOP_GRACE_MS),
      });
      routes.push({ routeKey: job.runRouteKey, handler: runJobRoute(running), function: localFunction(job) });
    }
    const grants = grantsRoute({
      endpoint: dynamo.endpoint,
      region: config.region,
      tableName: LOCAL_NAMES.tokenTable,
    });
    stoppers.push({ name: 'grants inspector', stop: async () => grants.stop() });
    routes.push({ routeKey: GRANTS_ROUTE_KEY, handler: grants.handler, function: pagesFunction });

    // A queue's event source mapping: the function's cold start, then a poller. A batch in progress gets a few
    // seconds to finish; the shutdown must not wait out a 30 s function timeout, or the process could be
    // killed before DynamoDB Local (stopped last) is.
    const consume = async (name: string, fn: QueueFunction, queue: WebhookQueues): Promise<void> => {
      const mapping = {
        queueUrl: queue.queueUrl,
        queueArn: queue.queueArn,
        region: config.region,
        function: localFunction(fn),
        batchSize: config.queue.batchSize,
        batchWindowMs: config.queue.batchWindowMs,
        concurrency: config.queue.concurrency,
        log,
      };
      let poller: SqsPoller;
      if (fn.handlerModule === undefined) {
        const { handler } = await coldStart(fn.name, fn.load);
        poller = startSqsPoller({ ...mapping, client: sqsClient, handler });
      } else {
        // The thread reads this process's environment as it starts: the function's cold start there.
        applyFunctionEnvironment(fn.name, lambdaEnv);
        poller = await startSqsPollerThread({
          ...mapping,
          handlerModule: fn.handlerModule,
          sqsEndpoint: sqs.endpoint,
        });
      }
      stoppers.push({ name, stop: () => atMost(poller.stop(), POLLER_STOP_GRACE_MS) });
    };
    await consume('SQS poller', functions.webhookProcessor, queues);
    // The subscription worker, on its own queue; and the all-vehicles job on demand (local only).
    if (functions.subscriptionWorker) {
      await consume('subscription poller', functions.subscriptionWorker, subscriptionQueues);
    }
    const subscriptionsRoute = routes.find((route) => route.routeKey === SUBSCRIPTIONS_ROUTE_KEY);
    if (subscriptionsRoute) {
      routes.push({
        routeKey: SUBSCRIPTIONS_JOB_ROUTE_KEY,
        // The job is a direct invocation in AWS (`{"allVehicles":true}`), not an HTTP request.
        handler: (_event, context, callback) =>
          subscriptionsRoute.handler(
            { allVehicles: true } as unknown as Parameters<typeof subscriptionsRoute.handler>[0],
            context,
            callback,
          ),
        function: subscriptionsRoute.function,
      });
    }

    const gateway = await startHttpGateway({
      port: config.port,
      host: config.host,
      routes,
      onError: (routeKey, error) => log(`[http] ${routeKey}: the function failed (answered 500)`, error),
    });
    stoppers.push({ name: 'HTTP API', stop: () => gateway.stop() });

    return {
      url: gateway.url,
      routes: localRoutes,
      pages: LOCAL_PAGES.map((localPage) => localPage.routeKey),
      jobs: [
        refresh.runRouteKey,
        ...connectionJobs.map((job) => job.runRouteKey),
        ...(subscriptionsRoute ? [SUBSCRIPTIONS_JOB_ROUTE_KEY] : []),
        GRANTS_ROUTE_KEY,
      ],
      dynamoDbEndpoint: dynamo.endpoint,
      dynamoDbPath,
      sqsEndpoint: sqs.endpoint,
      queues,
      subscriptionQueues,
      recoveryQueues,
      secretsManagerEndpoint: secrets.endpoint,
      secretId,
      kmsEndpoint: kms.endpoint,
      tokenKeyId,
      kmsMasterKeyFile,
      fakeSmartcar,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const POLLER_STOP_GRACE_MS = 5_000;
const GRANTS_ROUTE_KEY = 'GET /local/grants';
const SUBSCRIPTIONS_ROUTE_KEY = routeKey({
  method: 'POST',
  path: VEHICLE_SUBSCRIPTIONS_PATH,
  auth: 'iam',
});
const SUBSCRIPTIONS_JOB_ROUTE_KEY = 'POST /local/jobs/subscriptions';

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
