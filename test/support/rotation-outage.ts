import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import smartcar from 'smartcar';
import { ensureTables } from '../../local/stand-ins/dynamodb-tables.js';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { awsClientConfig } from '../../lambdas/runtime/aws-clients.js';
import { deadline } from '../../lambdas/runtime/deadline.js';
import type { SmartcarGateway, TokenSet } from '../../lambdas/smartcar/gateway.js';
import { createRefreshJob, type RefreshSummary } from '../../lambdas/token-refresh/refresh-job.js';
import { createAccessTokenProvider } from '../../lambdas/tokens/access-token.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import type { GrantRecord } from '../../lambdas/tokens/grant.js';
import { kmsRecoverySealer } from '../../lambdas/tokens/kms-recovery-sealer.js';
import { kmsTokenCipher } from '../../lambdas/tokens/kms-token-cipher.js';
import {
  createRecoveryApplier,
  type RecoveryQueue,
  type RecoveryQueueMessage,
} from '../../lambdas/tokens/token-recovery.js';
import { createTokenRotation } from '../../lambdas/tokens/token-rotation.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import { dynamoVehicleLinks, dynamoVehicleReauth } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import type { VehicleLinkStore } from '../../lambdas/vehicles/vehicle-links.js';
import type { OAuthBackends } from './oauth-backends.js';

/**
 * "A 30 s KMS or DynamoDB outage during a token rotation" as a reusable scenario (the integration test and the
 * drill run it): the refresh job with its real adapters against DynamoDB Local, the KMS fake and the fake
 * Smartcar, on ONE simulated clock that the job's waits move and that the fake Smartcar follows, so Smartcar's
 * reuse window of a rotated refresh token closes as it would in production. Runs are minutes apart.
 */

const DAY = 24 * 60 * 60 * 1000;
/** The schedule's default cadence. */
export const RUN_GAP_MS = 15 * 60 * 1000;

/**
 * The job's wall clock: real time plus what the scenario (or the job's sleeps) advanced. Every advance also
 * moves the fake Smartcar's clock, so expiry and reuse windows there pass exactly as they do for the job.
 */
export class LinkedClock {
  private offset = 0;
  readonly sleeps: number[] = [];
  constructor(private readonly fake: FakeSmartcar) {
    fake.setClock(null);
  }
  readonly now = (): number => Date.now() + this.offset;
  readonly sleep = (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.advance(ms);
    return Promise.resolve();
  };
  advance(ms: number): void {
    this.offset += ms;
    this.fake.advanceClock(ms);
  }
}

/** An in-memory recovery queue with SQS's receive semantics (a received message is invisible for a while). */
export function memoryRecoveryQueue(
  clock: () => number,
  visibilityMs = 5 * 60 * 1000,
): RecoveryQueue & {
  readonly sent: string[];
  size(): number;
  /** Makes every operation fail until `until` (on `clock`): an SQS outage. */
  failUntil(until: number): void;
} {
  const messages = new Map<string, { body: string; visibleAt: number }>();
  const sent: string[] = [];
  let downUntil = 0;
  const check = () => {
    if (clock() < downUntil) return Promise.reject(new Error('SQS unavailable (simulated)'));
    return Promise.resolve();
  };
  return {
    sent,
    size: () => messages.size,
    failUntil: (until) => {
      downUntil = until;
    },
    async send(body) {
      await check();
      sent.push(body);
      messages.set(randomUUID(), { body, visibleAt: 0 });
    },
    async receive(max) {
      await check();
      const now = clock();
      const batch: RecoveryQueueMessage[] = [];
      for (const [receipt, message] of messages) {
        if (batch.length >= max) break;
        if (message.visibleAt > now) continue;
        message.visibleAt = now + visibilityMs;
        batch.push({ body: message.body, receipt });
      }
      return batch;
    },
    async delete(receipt) {
      await check();
      messages.delete(receipt);
    },
  };
}

/** DynamoDB answers 500 to every request of `client` while the clock is before `until` (set with `start`). */
export function dynamoOutage(client: DynamoDBClient, clock: () => number) {
  const name = `outage-${randomUUID()}`;
  let until = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      if (clock() < until) {
        throw Object.assign(new Error('We currently do not have sufficient capacity (simulated outage)'), {
          name: 'InternalServerError',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    start(untilAt: number): void {
      until = untilAt;
    },
    remove(): void {
      client.middlewareStack.remove(name);
    },
  };
}

export interface RefreshEnv {
  readonly tokenTable: string;
  readonly vehicleTable: string;
  readonly store: TokenStore;
  readonly links: VehicleLinkStore;
}

/** Fresh tables (what a run selects depends on every grant in the index) and the stores over them. */
export async function freshRefreshEnv(
  backends: Pick<OAuthBackends, 'dynamoClient' | 'documentClient' | 'kmsClient'>,
  keyId: string,
  kmsClient: KMSClient = backends.kmsClient,
): Promise<RefreshEnv> {
  const suffix = randomUUID().slice(0, 8);
  const names = {
    vehicleTable: `rf-vehicles-${suffix}`,
    idempotencyTable: `rf-idem-${suffix}`,
    tokenTable: `rf-tokens-${suffix}`,
  };
  await ensureTables(backends.dynamoClient, names);
  return {
    tokenTable: names.tokenTable,
    vehicleTable: names.vehicleTable,
    store: dynamoTokenStore({
      client: backends.documentClient,
      tableName: names.tokenTable,
      cipher: kmsTokenCipher(kmsClient, keyId),
    }),
    links: dynamoVehicleLinks({
      client: backends.documentClient,
      vehicleTableName: names.vehicleTable,
      tokenTableName: names.tokenTable,
    }),
  };
}

export interface ConnectedGrant {
  readonly grant: GrantRecord;
  readonly tokens: TokenSet;
  readonly vehicleIds: readonly string[];
}

/**
 * A grant as the callback leaves it, with a real token pair from the fake (Connect code → exchange) and its
 * vehicles linked; the stored expiries are given to place it relative to "now".
 */
export async function connectGrant(
  env: RefreshEnv,
  fake: FakeSmartcar,
  smartcarApi: Pick<SmartcarGateway, 'exchangeCode'>,
  redirectUri: string,
  options: {
    readonly refreshExpiresAt: number;
    readonly accessExpiresAt?: number;
    readonly vehicles?: number;
    readonly now: number;
  },
): Promise<ConnectedGrant> {
  const { code, userId, vehicleIds } = fake.createAuthorizationCode({
    redirectUri,
    vehicles: Array.from({ length: options.vehicles ?? 1 }, () => ({
      make: 'KIA',
      model: 'EV6',
      year: 2023,
    })),
  });
  const exchanged = await smartcarApi.exchangeCode(
    code,
    deadline({ perCallMs: 5_000, endsAt: Date.now() + 10_000 }),
  );
  const tokens: TokenSet = {
    ...exchanged,
    refreshExpiresAt: options.refreshExpiresAt,
    accessExpiresAt: options.accessExpiresAt ?? exchanged.accessExpiresAt,
  };
  const appUserId = `app-${randomUUID().slice(0, 8)}`;
  const connectedAt = options.now - 50 * DAY;
  const created = await env.store.createGrant({
    appUserId,
    smartcarUserId: userId,
    scopes: ['read_vehicle_info'],
    tokens,
    now: connectedAt,
  });
  for (const vehicleId of vehicleIds) {
    await env.links.link({
      vehicleId,
      grantId: created.grantId,
      appUserId,
      smartcarUserId: userId,
      make: 'KIA',
      model: 'EV6',
      year: 2023,
      now: connectedAt,
    });
  }
  const grant = await env.store.getGrant(created.grantId);
  if (!grant) throw new Error('grant vanished');
  return { grant, tokens, vehicleIds };
}

/** The access token is accepted by (the fake) Smartcar's API. */
export async function worksAtSmartcar(accessToken: string): Promise<boolean> {
  try {
    await smartcar.getUser(accessToken);
    return true;
  } catch {
    return false;
  }
}

export interface RotationOutageOptions {
  readonly backends: OAuthBackends;
  /** The gateway over the `smartcar` SDK pointed at `backends.fake`. */
  readonly smartcar: SmartcarGateway;
  /** What is down. */
  readonly service: 'kms' | 'dynamodb';
  /** How long, from the moment Smartcar answered with the new pair (less than RUN_GAP_MS). @default 30_000 */
  readonly outageMs?: number;
  /** KMS only: `hang` leaves requests unanswered (the SDK's request timeout must end them). @default 'error' */
  readonly kmsMode?: 'error' | 'hang';
  /** Time the invocation has left when the run starts (a 5-minute Lambda). @default 300_000 */
  readonly invocationMs?: number;
  /**
   * Between the rotation and the next run, a getAccessToken call after the lease and the reuse window: it
   * presents the rotated token, gets invalid_grant and marks the grant NEEDS_REAUTH. @default false
   */
  readonly interloper?: boolean;
  /** Key the token store and the recovery seal use. @default 'alias/rotation-outage' */
  readonly keyId?: string;
  /** The job's log level (the drill keeps its terminal to errors). @default 'WARN' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export interface RotationOutageReport {
  /** The run during which the outage happened, the next scheduled one, and one ~58 days later (due again). */
  readonly runs: readonly [RefreshSummary, RefreshSummary, RefreshSummary];
  /** Pairs the first run parked in the recovery queue. */
  readonly parked: number;
  /** The grant's status just before the second run (NEEDS_REAUTH after the interloper). */
  readonly statusBeforeNextRun: string;
  /** Messages left in the recovery queue at the end. */
  readonly queueLeft: number;
  /** Refresh-token exchanges the fake answered, in order (the last is the third run's). */
  readonly exchanges: number;
  /** After the second run: the stored pair is the one Smartcar issued during the outage, and it works. */
  readonly storedAfterOutage: {
    readonly version: number;
    readonly status: string;
    readonly refreshTokenState: string;
    readonly accessTokenWorks: boolean;
  };
  /** The vehicles' profile statuses after the second run. */
  readonly vehicleStatuses: readonly (string | undefined)[];
  /** Nothing lost: the grant refreshed normally ~58 days later and never needed the owner. */
  readonly lost: boolean;
}

/**
 * One grant is due; the first run claims it and Smartcar rotates its pair; at that moment `service` goes down
 * for `outageMs`. The second run comes RUN_GAP_MS later (the reuse window of the old refresh token long
 * closed), the third when the new refresh token is due itself. Returns what happened; `lost` is false when the
 * owner never had to reconnect.
 */
export async function runRotationOutage(options: RotationOutageOptions): Promise<RotationOutageReport> {
  const { backends } = options;
  const { fake } = backends;
  const keyId = options.keyId ?? 'alias/rotation-outage';
  const outageMs = options.outageMs ?? 30_000;
  const clock = new LinkedClock(fake);
  // Own KMS client with one attempt and short limits: the rotation's retries, not the SDK's, ride out the
  // outage, and a hung request ends after 300 ms of real time.
  const kms = new KMSClient({
    endpoint: backends.kms.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...awsClientConfig({ connectionTimeoutMs: 300, requestTimeoutMs: 300, maxAttempts: 1 }),
  });
  const dynamo = dynamoOutage(backends.dynamoClient, clock.now);
  const logger = new Logger({ serviceName: 'rotation-outage', logLevel: options.logLevel ?? 'WARN' });
  const metrics = new Metrics({ namespace: 'RotationOutage', serviceName: 'rotation-outage' });
  try {
    const env = await freshRefreshEnv(backends, keyId, kms);
    const t0 = clock.now();
    const connected = await connectGrant(env, fake, options.smartcar, backends.redirectUri, {
      refreshExpiresAt: t0 + 3 * DAY,
      // Stale for getAccessToken a few minutes later (the interloper), irrelevant to the job.
      accessExpiresAt: t0 + 4 * 60 * 1000,
      now: t0,
    });
    const refreshExchanges = () =>
      fake.calls.filter((call) => call.route === 'token' && call.grantType === 'refresh_token').length;
    const exchangesBefore = refreshExchanges();
    let outageStarted = false;
    const startOutage = () => {
      if (outageStarted) return;
      outageStarted = true;
      const until = clock.now() + outageMs;
      if (options.service === 'dynamodb') dynamo.start(until);
      else backends.kms.setOutage({ until, clock: clock.now, mode: options.kmsMode ?? 'error' });
    };
    const queue = memoryRecoveryQueue(clock.now);
    const sealer = kmsRecoverySealer(kms, keyId);
    const profiles = dynamoVehicleReauth({
      client: backends.documentClient,
      vehicleTableName: env.vehicleTable,
    });
    const rotationWith = (
      smartcarApi: Pick<SmartcarGateway, 'exchangeRefreshToken'>,
      recovery?: Parameters<typeof createTokenRotation>[0]['recovery'],
    ) =>
      createTokenRotation({
        tokens: env.store,
        profiles,
        smartcar: smartcarApi,
        logger,
        metrics,
        leaseMs: 60_000,
        smartcarTimeoutMs: 5_000,
        clock: clock.now,
        sleep: clock.sleep,
        random: () => 0.5,
        ...(recovery !== undefined && { recovery }),
      });
    const rotation = rotationWith(
      {
        // The outage begins the moment Smartcar has answered: the new pair exists only in memory.
        exchangeRefreshToken: async (...args) => {
          const pair = await options.smartcar.exchangeRefreshToken(...args);
          startOutage();
          return pair;
        },
      },
      { sealer, queue },
    );
    const job = createRefreshJob({
      tokens: env.store,
      rotation,
      recovery: createRecoveryApplier({
        queue,
        sealer,
        tokens: env.store,
        profiles,
        logger,
        metrics,
        clock: clock.now,
      }),
      config: { refreshWindowMs: 7 * DAY, accessWarmWindowMs: 0, concurrency: 10 },
      logger,
      metrics,
      clock: clock.now,
    });
    const runAt = (now: number, invocationMs = 300_000) =>
      job.run({ now, endsAt: clock.now() + invocationMs, runId: randomUUID() });

    const first = await runAt(clock.now(), options.invocationMs);
    const parked = queue.sent.length;

    if (options.interloper === true) {
      // Past the lease (60 s) and the reuse window (60 s) of the rotated token, before the next run.
      clock.advance(5 * 60 * 1000);
      const provider = createAccessTokenProvider({
        links: env.links,
        tokens: env.store,
        rotation: rotationWith(options.smartcar),
        clock: clock.now,
        sleep: clock.sleep,
      });
      await provider.getAccessToken(connected.vehicleIds[0] ?? '').catch(() => undefined);
    }

    clock.advance(RUN_GAP_MS);
    // Read once the outage is over (it may outlast the first run), still before the next run.
    const statusBeforeNextRun = (await env.store.getGrant(connected.grant.grantId))?.status ?? 'missing';
    const second = await runAt(clock.now());
    const stored = await env.store.readGrantTokens(connected.grant.grantId);
    const vehicleStatuses = await Promise.all(
      connected.vehicleIds.map(async (vehicleId) => (await env.links.getProfile(vehicleId))?.status),
    );
    const storedAfterOutage = {
      version: stored?.grant.version ?? 0,
      status: stored?.grant.status ?? 'missing',
      refreshTokenState: fake.refreshTokenState(stored?.tokens.refreshToken ?? ''),
      accessTokenWorks: await worksAtSmartcar(stored?.tokens.accessToken ?? ''),
    };

    // When the new refresh token is due itself (its 60 days minus the 7-day window, and a bit).
    const third = await runAt(t0 + 55 * DAY);
    const final = await env.store.getGrant(connected.grant.grantId);
    const exchanges = refreshExchanges() - exchangesBefore;
    return {
      runs: [first, second, third],
      parked,
      statusBeforeNextRun,
      queueLeft: queue.size(),
      exchanges,
      storedAfterOutage,
      vehicleStatuses,
      lost: third.refreshed !== 1 || final?.status !== 'ACTIVE' || third.needsReauth !== 0,
    };
  } finally {
    backends.kms.setOutage(null);
    dynamo.remove();
    kms.destroy();
  }
}
