import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { KMSClient } from '@aws-sdk/client-kms';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dynamoCommandAudit } from '../../lambdas/commands/command-audit.js';
import { smartcarCommandGateway } from '../../lambdas/commands/command-gateway.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { smartcarWebhookSubscriptions } from '../../lambdas/smartcar/webhook-subscriptions.js';
import { createSubscriptionWorkerHandler } from '../../lambdas/subscription-worker/create-handler.js';
import { dynamoSubscriptions } from '../../lambdas/subscriptions/dynamo-subscriptions.js';
import { createSubscribeWorker } from '../../lambdas/subscriptions/worker.js';
import { createRefreshJob } from '../../lambdas/token-refresh/refresh-job.js';
import { createAccessTokenProvider, type AccessTokenProvider } from '../../lambdas/tokens/access-token.js';
import { awsTokenRotation, type AwsTokenRotation } from '../../lambdas/tokens/aws-token-rotation.js';
import { createRecoveryApplier } from '../../lambdas/tokens/token-recovery.js';
import { createCommandHandler } from '../../lambdas/vehicle-command/create-handler.js';
import {
  createWebhookQueues,
  localSqsClient,
  startSqsEmulator,
  type SqsEmulator,
} from '../../local/stand-ins/sqs.js';
import { httpEvent, invoke, lambdaContext, type HttpHandler } from '../support/api-gateway-events.js';
import { startOAuthBackends, type OAuthBackends } from '../support/oauth-backends.js';
import { freePort } from '../support/ports.js';
import {
  connectGrant,
  freshRefreshEnv,
  LinkedClock,
  RUN_GAP_MS,
  worksAtSmartcar,
  type ConnectedGrant,
  type RefreshEnv,
} from '../support/rotation-outage.js';
import { sqsRecord } from '../support/sqs-events.js';

/**
 * The on-demand refresh of getAccessToken in the vehicle-command Lambda and the subscription worker, built by the
 * same factory as the refresh job (awsTokenRotation): when Smartcar has rotated the pair and the token table or KMS
 * then fails, the pair is parked in the recovery queue, and the next refresh run applies it, so the owner never has
 * to reconnect. Real adapters: DynamoDB Local, the KMS fake, the SQS emulator as the recovery queue and the fake
 * Smartcar (through the `smartcar` SDK), on one simulated clock that the fake follows (its reuse window of a rotated
 * refresh token closes as it would in production).
 */

const CLIENT_ID = 'recovery-it-client';
const CLIENT_SECRET = 'recovery-it-secret';
const KEY_ID = 'alias/recovery-it';
const DAY = 24 * 60 * 60 * 1000;
const secret: SmartcarSecretSource = {
  get: () => Promise.resolve({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, managementToken: 'amt' }),
};
const logger = new Logger({ serviceName: 'recovery-it', logLevel: 'SILENT' });
const metrics = new Metrics({ namespace: 'RecoveryIt', serviceName: 'recovery-it' });

let backends: OAuthBackends;
let emulator: SqsEmulator;
let sqs: SQSClient;
/** The rotation's KMS client: Encrypt (the persist's) fails while `failEncrypt` is set. */
let kms: KMSClient;
let failEncrypt = false;
/** The persist's UpdateItem (the one writing `rotatedBy`) fails while this is set. */
let failPersist = false;
let queueCount = 0;

beforeAll(async () => {
  backends = await startOAuthBackends({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: 'amt',
  });
  emulator = await startSqsEmulator({ port: await freePort() });
  sqs = localSqsClient(emulator.endpoint, 'us-east-1');
  kms = new KMSClient({
    endpoint: backends.kms.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const unavailable = (service: string) =>
    Object.assign(new Error(`${service} unavailable (simulated)`), {
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
    });
  kms.middlewareStack.add(
    (next, context) => async (args) => {
      if (failEncrypt && context.commandName === 'EncryptCommand') throw unavailable('KMS');
      return next(args);
    },
    { step: 'initialize', name: 'encrypt-outage' },
  );
  backends.dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { UpdateExpression?: string };
      if (
        failPersist &&
        context.commandName === 'UpdateItemCommand' &&
        input.UpdateExpression?.includes('rotatedBy') === true
      ) {
        throw unavailable('DynamoDB');
      }
      return next(args);
    },
    { step: 'initialize', name: 'persist-outage' },
  );
}, 60_000);

afterEach(() => {
  failEncrypt = false;
  failPersist = false;
});

afterAll(async () => {
  kms?.destroy();
  sqs?.destroy();
  await emulator?.stop();
  await backends?.stop();
});

interface Scenario {
  readonly env: RefreshEnv;
  readonly clock: LinkedClock;
  readonly built: AwsTokenRotation;
  readonly connected: ConnectedGrant;
  readonly vehicleId: string;
  /** getAccessToken of a Lambda named `claimant`, over the factory's rotation, on the scenario's clock. */
  accessTokens(claimant: string): AccessTokenProvider;
  /** The next scheduled refresh run, with the factory's recovery queue and sealer. */
  nextRefreshRun(): ReturnType<ReturnType<typeof createRefreshJob>['run']>;
  /** Messages in the recovery queue (received and left for the next run: invisible for 1 s of real time). */
  parkedCount(): Promise<number>;
}

/**
 * A grant whose access token has expired (any use refreshes it first) and whose refresh token is not due for the
 * job, the rotation through the shared factory, and a recovery queue of its own.
 */
async function scenario(): Promise<Scenario> {
  const env = await freshRefreshEnv(backends, KEY_ID, kms);
  const clock = new LinkedClock(backends.fake);
  queueCount += 1;
  const { queueUrl } = await createWebhookQueues(sqs, {
    name: `recovery-${queueCount}`,
    dlqName: `recovery-${queueCount}-dlq`,
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 10,
  });
  const built = awsTokenRotation({
    config: {
      TOKEN_TABLE_NAME: env.tokenTable,
      TOKEN_KEY_ID: KEY_ID,
      VEHICLE_TABLE_NAME: env.vehicleTable,
      SMARTCAR_REDIRECT_URI: backends.redirectUri,
      SMARTCAR_TIMEOUT_MS: 5_000,
      TOKEN_RECOVERY_QUEUE_URL: queueUrl,
    },
    documentClient: backends.documentClient,
    kms,
    sqs,
    secret,
    logger,
    metrics,
    leaseMs: 60_000,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
  const now = clock.now();
  const gateway = smartcarGateway({ secret, redirectUri: backends.redirectUri });
  const connected = await connectGrant(env, backends.fake, gateway, backends.redirectUri, {
    refreshExpiresAt: now + 50 * DAY,
    accessExpiresAt: now - 1_000,
    now,
  });
  const job = createRefreshJob({
    tokens: built.tokens,
    rotation: built.rotation,
    recovery: createRecoveryApplier({
      ...built.recovery,
      tokens: built.tokens,
      profiles: built.profiles,
      logger,
      metrics,
      clock: clock.now,
    }),
    config: { refreshWindowMs: 7 * DAY, accessWarmWindowMs: 0, concurrency: 10 },
    logger,
    metrics,
    clock: clock.now,
  });
  return {
    env,
    clock,
    built,
    connected,
    vehicleId: connected.vehicleIds[0] ?? '',
    accessTokens: (claimant) =>
      createAccessTokenProvider({
        links: env.links,
        tokens: built.tokens,
        rotation: built.rotation,
        clock: clock.now,
        sleep: clock.sleep,
        claimant,
      }),
    nextRefreshRun: () => {
      clock.advance(RUN_GAP_MS);
      return job.run({ now: clock.now(), endsAt: clock.now() + 300_000, runId: randomUUID() });
    },
    parkedCount: async () => (await built.recovery.queue.receive(10)).length,
  };
}

/** What the next refresh run leaves stored: the parked pair, current at Smartcar, under the parking claimant. */
async function expectParkedPairApplied(run: Scenario, claimant: string): Promise<void> {
  const { env, connected } = run;
  const stored = await env.store.readGrantTokens(connected.grant.grantId);
  expect(stored?.grant).toMatchObject({ version: connected.grant.version + 1, status: 'ACTIVE' });
  expect(stored?.grant.rotatedBy).toMatch(new RegExp(`^${claimant}#`));
  // The old refresh token's reuse window closed long ago: only the parked pair works.
  expect(backends.fake.refreshTokenState(connected.tokens.refreshToken)).toBe('rotated');
  expect(backends.fake.refreshTokenState(stored?.tokens.refreshToken ?? '')).toBe('active');
  expect(await worksAtSmartcar(stored?.tokens.accessToken ?? '')).toBe(true);
  for (const vehicleId of connected.vehicleIds) {
    expect((await env.links.getProfile(vehicleId))?.status).toBe('CONNECTED');
  }
  expect(await run.parkedCount()).toBe(0);
}

describe('a refresh on demand', () => {
  it('stores the rotated pair within the command Lambda’s few seconds (8 s) and parks nothing while the store works', async () => {
    const run = await scenario();
    const provider = run.accessTokens('vehicle-command');
    const token = await provider.getAccessToken(run.vehicleId, { endsAt: run.clock.now() + 8_000 });
    expect(await worksAtSmartcar(token.accessToken)).toBe(true);
    const stored = await run.env.store.getGrant(run.connected.grant.grantId);
    expect(stored?.version).toBe(run.connected.grant.version + 1);
    expect(await run.parkedCount()).toBe(0);
  });
});

describe('a refresh on demand whose rotated pair cannot be stored', () => {
  it('in the command Lambda (KMS failing after the exchange): parked, no command sent, and applied by the next refresh run', async () => {
    const run = await scenario();
    const handler = createCommandHandler({
      links: run.env.links,
      tokens: run.built.tokens,
      accessTokens: run.accessTokens('vehicle-command'),
      gateway: smartcarCommandGateway(),
      // Never reached: no audit table exists, so a command that got that far would answer 503.
      audit: dynamoCommandAudit({ client: backends.documentClient, tableName: 'no-audit', retentionDays: 1 }),
      commandTimeoutMs: 10_000,
      smartcarTimeoutMs: 5_000,
      logger,
      metrics,
      now: run.clock.now,
      sleep: run.clock.sleep,
    });
    backends.fake.clearCalls();
    failEncrypt = true;

    const answer = await invoke(
      handler as HttpHandler,
      httpEvent({
        routeKey: 'POST /vehicles/{vehicleId}/commands',
        pathParameters: { vehicleId: run.vehicleId },
        body: JSON.stringify({ command: 'LOCK' }),
      }),
    );
    failEncrypt = false;

    // Smartcar rotated the pair (one exchange), the store failed, the caller is told to retry; no command.
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ error: 'smartcar_unavailable' });
    const calls = backends.fake.calls.map((call) => call.route);
    expect(calls.filter((route) => route === 'token')).toHaveLength(1);
    expect(calls).not.toContain('command');
    const stored = await run.env.store.getGrant(run.connected.grant.grantId);
    expect(stored?.version).toBe(run.connected.grant.version);

    // Minutes later, past the lease and the rotated token's reuse window: the run applies the parked pair first.
    const summary = await run.nextRefreshRun();
    expect(summary).toMatchObject({ failed: 0, needsReauth: 0 });
    await expectParkedPairApplied(run, 'vehicle-command');
  });

  it('in the subscription worker (the token table failing after the exchange): parked, retried later, and applied by the next refresh run', async () => {
    const run = await scenario();
    const handler = createSubscriptionWorkerHandler({
      subscribeOne: createSubscribeWorker({
        store: dynamoSubscriptions(backends.documentClient, run.env.vehicleTable),
        api: smartcarWebhookSubscriptions({ secret }),
        tokens: run.accessTokens('subscription-worker'),
        maxAttempts: 8,
        smartcarTimeoutMs: 5_000,
        logger,
        metrics,
        now: run.clock.now,
      }),
      delay: { delay: () => Promise.resolve() },
      logger,
      metrics,
    });
    backends.fake.clearCalls();
    failPersist = true;

    const record = sqsRecord({ action: 'subscribe', vehicleId: run.vehicleId, webhookId: 'wh-a' });
    const result = await handler({ Records: [record] }, lambdaContext('subscription-worker', 60_000));
    failPersist = false;

    // No token now: the message is retried after its back-off; nothing was subscribed.
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    const calls = backends.fake.calls.map((call) => call.route);
    expect(calls.filter((route) => route === 'token')).toHaveLength(1);
    expect(calls).not.toContain('subscribe');

    const summary = await run.nextRefreshRun();
    expect(summary).toMatchObject({ failed: 0, needsReauth: 0 });
    await expectParkedPairApplied(run, 'subscription-worker');
  });
});
