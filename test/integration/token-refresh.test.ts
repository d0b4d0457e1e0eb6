import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import {
  BY_ACCESS_EXPIRY_INDEX as LOCAL_ACCESS_INDEX,
  BY_REFRESH_EXPIRY_INDEX as LOCAL_REFRESH_INDEX,
  ensureTables,
} from '../../local/stand-ins/dynamodb-tables.js';
import {
  createAccessTokenProvider,
  GrantNeedsReauthError,
  VehicleNotConnectedError,
} from '../../lambdas/tokens/access-token.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { createTokenRotation } from '../../lambdas/tokens/token-rotation.js';
import { dynamoVehicleReauth } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import {
  BY_ACCESS_EXPIRY_INDEX,
  BY_REFRESH_EXPIRY_INDEX,
  dynamoTokenStore,
} from '../../lambdas/tokens/dynamo-token-store.js';
import type { GrantRecord } from '../../lambdas/tokens/grant.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import { createRefreshJob, type RefreshJob } from '../../lambdas/token-refresh/refresh-job.js';
import { recordIssuedTokens } from '../support/fake-smartcar-sdk.js';
import {
  connectGrant,
  freshRefreshEnv,
  LinkedClock,
  runRotationOutage,
  worksAtSmartcar,
  type ConnectedGrant,
  type RefreshEnv,
} from '../support/rotation-outage.js';
import { startOAuthBackends, type OAuthBackends } from '../support/oauth-backends.js';
import { captureOutput } from '../support/output.js';
import { startTestDynamoDb } from '../support/dynamodb-local.js';

/**
 * The scheduled token refresh end to end, in-process: the job and getAccessToken with their real adapters,
 * the REAL `smartcar` SDK against the fake Smartcar (single-use refresh tokens with a 60 s reuse window),
 * DynamoDB Local (real conditional writes and GSIs) and the KMS fake (real encryption-context checks).
 * Time: "now" of a run is the real time at the start of each test; waits and lease expiry use an injected clock
 * (`TestClock`), so nothing here sleeps for real except getAccessToken waiting for a racing run.
 */

const CLIENT_ID = 'refresh-it-client';
const CLIENT_SECRET = 'refresh-it-secret';
const AMT = 'refresh-it-amt';
const KEY_ALIAS = 'alias/refresh-it-tokens';
const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;
const LEASE_MS = 60_000;

let backends: OAuthBackends;
let fake: FakeSmartcar;
let dynamoClient: DynamoDBClient;
let documentClient: DynamoDBDocumentClient;
let redirectUri: string;
/** Every pair the fake's token endpoint issued, in order (read from its responses). */
const issued: { accessToken: string; refreshToken: string }[] = [];
const logs: string[] = [];
/** What the DynamoDB client sent: command, index, and the items each Query read. */
const sent: { command: string; table?: string; index?: string; count?: number; scanned?: number }[] = [];
const secret: SmartcarSecretSource = {
  get: () => Promise.resolve({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, managementToken: AMT }),
};
const logger = new Logger({ serviceName: 'token-refresh-it', logLevel: 'DEBUG' });
const metrics = new Metrics({ namespace: 'TokenRefreshIT', serviceName: 'token-refresh-it' });
let gateway: ReturnType<typeof smartcarGateway>;

beforeAll(async () => {
  backends = await startOAuthBackends({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: AMT,
    refreshReuseGraceSeconds: 60,
  });
  ({ fake, dynamoClient, documentClient, redirectUri } = backends);
  // Records every command and, for Queries, how many items DynamoDB read (ScannedCount) and returned (Count).
  dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { TableName?: string; IndexName?: string };
      const output = result.output as { Count?: number; ScannedCount?: number };
      sent.push({
        command: context.commandName ?? 'unknown',
        ...(input.TableName !== undefined && { table: input.TableName }),
        ...(input.IndexName !== undefined && { index: input.IndexName }),
        ...(output.Count !== undefined && { count: output.Count }),
        ...(output.ScannedCount !== undefined && { scanned: output.ScannedCount }),
      });
      return result;
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  gateway = smartcarGateway({ secret, redirectUri, mode: 'test' });

  recordIssuedTokens(fake, (pair) => issued.push(pair));
  captureOutput(logs);
  vi.spyOn(Metrics.prototype, 'addMetric');
});

afterAll(async () => {
  vi.restoreAllMocks();
  await backends?.stop();
});

beforeEach(() => {
  logs.length = 0;
  sent.length = 0;
  fake.clearCalls();
  vi.mocked(Metrics.prototype.addMetric).mockClear();
});

afterEach(() => {
  fake.setClock(null);
});

interface Env extends RefreshEnv {
  /** "Now" of the runs: the test's start. */
  readonly t0: number;
}

/** Fresh tables per test: what a run selects depends on every grant in the index. */
async function freshEnv(): Promise<Env> {
  return { ...(await freshRefreshEnv(backends, KEY_ALIAS)), t0: Date.now() };
}

/**
 * A grant as the callback leaves it, with a real token pair from the fake (Connect code → exchange) and its
 * vehicles linked; the stored expiries are set by the test to place it relative to "now".
 */
const connect = (
  env: Env,
  expiries: { readonly refreshExpiresAt: number; readonly accessExpiresAt?: number },
  vehicles = 1,
): Promise<ConnectedGrant> =>
  connectGrant(env, fake, gateway, redirectUri, { ...expiries, vehicles, now: env.t0 });

/** A grant that is never due in these tests (no Smartcar involved: synthetic tokens). */
async function fillerGrant(env: Env, refreshExpiresAt: number): Promise<GrantRecord> {
  return env.store.createGrant({
    appUserId: `filler-${randomUUID().slice(0, 8)}`,
    smartcarUserId: 'filler',
    scopes: [],
    tokens: {
      accessToken: `access-${randomUUID()}`,
      refreshToken: `refresh-${randomUUID()}`,
      accessExpiresAt: refreshExpiresAt - 58 * DAY,
      refreshExpiresAt,
    },
    now: refreshExpiresAt - 60 * DAY,
  });
}

function rotationFor(
  env: Env,
  clock: LinkedClock,
  overrides: {
    readonly tokens?: TokenStore;
    readonly leaseMs?: number;
    readonly sleep?: (ms: number) => Promise<void>;
  } = {},
) {
  return createTokenRotation({
    tokens: overrides.tokens ?? env.store,
    profiles: dynamoVehicleReauth({ client: documentClient, vehicleTableName: env.vehicleTable }),
    smartcar: gateway,
    logger,
    metrics,
    leaseMs: overrides.leaseMs ?? LEASE_MS,
    smartcarTimeoutMs: 5_000,
    clock: clock.now,
    sleep: overrides.sleep ?? clock.sleep,
    random: () => 0.5,
  });
}

function jobFor(
  env: Env,
  clock: LinkedClock,
  overrides: Parameters<typeof rotationFor>[2] & { readonly concurrency?: number } = {},
): RefreshJob {
  return createRefreshJob({
    tokens: env.store,
    rotation: rotationFor(env, clock, overrides),
    config: { refreshWindowMs: 7 * DAY, accessWarmWindowMs: 0, concurrency: overrides.concurrency ?? 10 },
    logger,
    metrics,
    clock: clock.now,
  });
}

const run = (job: RefreshJob, env: Env, clock: LinkedClock, runId = randomUUID()) =>
  job.run({ now: env.t0, endsAt: clock.now() + 5 * 60_000, runId });

/** The fake's refresh-token exchanges that presented `refreshToken`. */
const exchangesOf = (refreshToken: string) =>
  fake.calls.filter(
    (call) =>
      call.route === 'token' && call.grantType === 'refresh_token' && call.refreshToken === refreshToken,
  );
const refreshExchanges = () =>
  fake.calls.filter((call) => call.route === 'token' && call.grantType === 'refresh_token');

async function rawGrant(env: Env, grantId: string) {
  return (
    await documentClient.send(
      new GetCommand({ TableName: env.tokenTable, Key: { grantId }, ConsistentRead: true }),
    )
  ).Item;
}

async function profileStatus(env: Env, vehicleId: string) {
  const item = (
    await documentClient.send(
      new GetCommand({
        TableName: env.vehicleTable,
        Key: { pk: `VEHICLE#${vehicleId}`, sk: 'PROFILE' },
        ConsistentRead: true,
      }),
    )
  ).Item;
  return item?.status as string | undefined;
}

const metricCalls = (name: string) =>
  vi.mocked(Metrics.prototype.addMetric).mock.calls.filter((call) => call[0] === name);

describe('scheduled token refresh', () => {
  it('refreshes a due grant with exactly the stored refresh token and stores what Smartcar issued; leaves the rest alone', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const due = await connect(env, { refreshExpiresAt: env.t0 + 3 * DAY });
    const notDue = await connect(env, { refreshExpiresAt: env.t0 + 30 * DAY });
    const notDueBefore = await rawGrant(env, notDue.grant.grantId);
    fake.clearCalls();
    issued.length = 0;

    const summary = await run(jobFor(env, clock), env, clock);

    expect(summary).toEqual({ due: 1, refreshed: 1, skipped: 0, failed: 0, needsReauth: 0 });
    // One exchange, presenting exactly the refresh token we had stored.
    expect(refreshExchanges()).toHaveLength(1);
    expect(refreshExchanges()[0]?.refreshToken).toBe(due.tokens.refreshToken);
    // The stored pair decrypts to exactly what the fake issued, and it works.
    const stored = await env.store.readGrantTokens(due.grant.grantId);
    expect(issued).toHaveLength(1);
    expect(stored?.tokens.accessToken).toBe(issued[0]?.accessToken);
    expect(stored?.tokens.refreshToken).toBe(issued[0]?.refreshToken);
    expect(fake.refreshTokenState(stored?.tokens.refreshToken ?? '')).toBe('active');
    expect(fake.refreshTokenState(due.tokens.refreshToken)).toBe('grace');
    expect(await worksAtSmartcar(stored?.tokens.accessToken ?? '')).toBe(true);
    expect(stored?.grant).toMatchObject({ version: 2, status: 'ACTIVE' });
    expect(stored?.grant.leaseOwner).toBeUndefined();
    expect(stored?.grant.refreshExpiresAt).toBeGreaterThan(clock.now() + 59 * DAY);
    expect(stored?.grant.accessExpiresAt).toBeGreaterThan(clock.now() + HOUR);
    const raw = await rawGrant(env, due.grant.grantId);
    expect(raw).toMatchObject({ dueShard: 'DUE' });
    expect(raw?.leaseUntil).toBeUndefined();
    // No plaintext token in the item.
    expect(JSON.stringify(raw)).not.toContain(stored?.tokens.refreshToken);

    // The grant that is not due: no Smartcar call, the item byte for byte as before.
    expect(exchangesOf(notDue.tokens.refreshToken)).toHaveLength(0);
    expect(await rawGrant(env, notDue.grant.grantId)).toEqual(notDueBefore);
    // Tokens never reach the logs.
    const text = logs.join('');
    for (const token of [
      due.tokens.refreshToken,
      due.tokens.accessToken,
      ...Object.values(issued[0] ?? {}),
    ]) {
      expect(text).not.toContain(token);
    }
    expect(text).toContain('Token refresh run finished');
    // A second run finds nothing due any more.
    fake.clearCalls();
    expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ due: 0, refreshed: 0 });
    expect(refreshExchanges()).toHaveLength(0);
  });

  it('the index query reads only the due grants (60 grants, 5 due): no Scan', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const due = await Promise.all(
      Array.from({ length: 5 }, (_, i) => connect(env, { refreshExpiresAt: env.t0 + i * HOUR + DAY })),
    );
    for (let i = 0; i < 55; i += 1) await fillerGrant(env, env.t0 + 8 * DAY + i * HOUR);
    sent.length = 0;

    const summary = await run(jobFor(env, clock), env, clock);

    expect(summary).toEqual({ due: 5, refreshed: 5, skipped: 0, failed: 0, needsReauth: 0 });
    expect(sent.some((command) => command.command === 'ScanCommand')).toBe(false);
    const queries = sent.filter((command) => command.command === 'QueryCommand');
    expect(queries.every((query) => query.index === BY_REFRESH_EXPIRY_INDEX)).toBe(true);
    const scanned = queries.reduce((sum, query) => sum + (query.scanned ?? 0), 0);
    expect(scanned).toBe(5);
    // Per due grant: one claim, one persist (plus the vehicle table untouched). Nothing is read per non-due grant.
    expect(sent.filter((command) => command.command === 'GetItemCommand')).toHaveLength(0);
    expect(sent.filter((command) => command.command === 'UpdateItemCommand')).toHaveLength(10);
    for (const grant of due) expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(1);
  });

  it('concurrent runs with the same time rotate each due grant exactly once', async () => {
    const env = await freshEnv();
    const due = await Promise.all(
      Array.from({ length: 4 }, () => connect(env, { refreshExpiresAt: env.t0 + DAY })),
    );
    for (const runs of [2, 10]) {
      fake.clearCalls();
      const before = await Promise.all(due.map((d) => env.store.readGrantTokens(d.grant.grantId)));
      // Separate clocks and rotations: as separate Lambda invocations would be. Lease expiry is not involved.
      const summaries = await Promise.all(
        Array.from({ length: runs }, () => {
          const clock = new LinkedClock(fake);
          // "Now" far enough ahead that the grants are due again after the first round.
          return jobFor(env, clock).run({
            now: env.t0 + (runs === 10 ? 55 * DAY : 0),
            endsAt: clock.now() + 5 * 60_000,
            runId: randomUUID(),
          });
        }),
      );
      const total = (key: 'due' | 'refreshed' | 'skipped' | 'failed' | 'needsReauth') =>
        summaries.reduce((sum, summary) => sum + summary[key], 0);
      expect(total('refreshed')).toBe(due.length);
      expect(total('failed')).toBe(0);
      expect(total('needsReauth')).toBe(0);
      expect(total('skipped')).toBe(total('due') - due.length);
      // Exactly one Smartcar exchange per grant, each with that grant's stored refresh token.
      expect(refreshExchanges()).toHaveLength(due.length);
      for (const previous of before) {
        expect(exchangesOf(previous?.tokens.refreshToken ?? '')).toHaveLength(1);
        const after = await env.store.readGrantTokens(previous?.grant.grantId ?? '');
        expect(after?.grant.version).toBe((previous?.grant.version ?? 0) + 1);
        expect(fake.refreshTokenState(after?.tokens.refreshToken ?? '')).toBe('active');
      }
    }
  });

  it('a run racing getAccessToken on the same grant causes one Smartcar call; both end with the new pair', async () => {
    const env = await freshEnv();
    for (let round = 0; round < 3; round += 1) {
      const clock = new LinkedClock(fake);
      // Due for the job (refresh token) and for getAccessToken (access token expires in 2 minutes).
      const grant = await connect(env, {
        refreshExpiresAt: env.t0 + DAY,
        accessExpiresAt: env.t0 + 2 * 60_000,
      });
      fake.clearCalls();
      const provider = createAccessTokenProvider({
        links: env.links,
        tokens: env.store,
        // Real clock and real sleep: it waits for the job's write in real time.
        rotation: rotationFor(env, new LinkedClock(fake)),
      });
      const vehicleId = grant.vehicleIds[0] ?? '';
      const job = jobFor(env, clock);
      const [summary, token] = await Promise.all([run(job, env, clock), provider.getAccessToken(vehicleId)]);
      expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(1);
      const stored = await env.store.readGrantTokens(grant.grant.grantId);
      expect(stored?.grant.version).toBe(2);
      expect(token.accessToken).toBe(stored?.tokens.accessToken);
      expect(token.expiresAt).toBeGreaterThan(Date.now() + HOUR);
      expect(summary.refreshed + summary.skipped).toBe(1);
      expect(await worksAtSmartcar(token.accessToken)).toBe(true);
    }
  });

  /**
   * The process dies right after Smartcar rotated the pair: its first write fails and it is gone before the
   * retry (the retry's wait throws), so nothing is stored, parked or released. Both clocks move together.
   */
  async function crashAfterExchange(env: Env, clock: LinkedClock, leaseMs: number) {
    const crashed = new Error('simulated crash: the process died before the write');
    const crashingStore: TokenStore = {
      ...env.store,
      persistRotation: () => Promise.reject(new Error('DynamoDB unavailable')),
      releaseClaim: () => Promise.reject(crashed),
    };
    return run(
      jobFor(env, clock, { tokens: crashingStore, leaseMs, sleep: () => Promise.reject(crashed) }),
      env,
      clock,
    );
  }

  it('a process that dies after Smartcar answered: a claimant after the lease, inside the reuse window, recovers', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grant = await connect(env, { refreshExpiresAt: env.t0 + DAY }, 2);
    fake.clearCalls();
    issued.length = 0;
    // The shortest lease the configuration allows (REFRESH_LEASE_SECONDS ≥ 20): only a lease shorter than
    // Smartcar's reuse window (60 s) lets a claimant take over while the rotated token still works.
    const leaseMs = 20_000;

    const first = await crashAfterExchange(env, clock, leaseMs);
    expect(first).toMatchObject({ due: 1, refreshed: 0, failed: 1 });
    expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(1);
    expect(issued).toHaveLength(1);
    // Smartcar rotated; we still hold only the old pair, under a lease that has not expired.
    expect(fake.refreshTokenState(grant.tokens.refreshToken)).toBe('grace');
    const leased = await env.store.getGrant(grant.grant.grantId);
    expect(leased).toMatchObject({ version: 1, status: 'ACTIVE' });
    expect(leased?.leaseUntil).toBeGreaterThan(clock.now());

    // While the lease holds, another run keeps its hands off: no Smartcar call.
    clock.advance(10_000);
    expect(await run(jobFor(env, clock, { leaseMs }), env, clock)).toMatchObject({ due: 1, skipped: 1 });
    expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(1);

    // 25 s after the exchange on BOTH clocks: the lease has expired, Smartcar's reuse window is still open.
    clock.advance(15_000);
    expect(fake.refreshTokenState(grant.tokens.refreshToken)).toBe('grace');
    const recovered = await run(jobFor(env, clock, { leaseMs }), env, clock);
    expect(recovered).toEqual({ due: 1, refreshed: 1, skipped: 0, failed: 0, needsReauth: 0 });
    expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(2);
    expect(issued).toHaveLength(2);
    const stored = await env.store.readGrantTokens(grant.grant.grantId);
    expect(stored?.grant).toMatchObject({ version: 2, status: 'ACTIVE' });
    expect(stored?.grant.leaseOwner).toBeUndefined();
    expect(stored?.tokens.refreshToken).toBe(issued[1]?.refreshToken);
    expect(stored?.tokens.accessToken).toBe(issued[1]?.accessToken);
    expect(fake.refreshTokenState(stored?.tokens.refreshToken ?? '')).toBe('active');
    expect(await worksAtSmartcar(stored?.tokens.accessToken ?? '')).toBe(true);
    for (const vehicleId of grant.vehicleIds) expect(await profileStatus(env, vehicleId)).toBe('CONNECTED');
    expect(metricCalls('TokenRotationRecovered')).toHaveLength(1);
    expect(metricCalls('GrantNeedsReauth')).toHaveLength(0);
  });

  it('the same death with nobody claiming before the next scheduled run ends in NEEDS_REAUTH (the risk a crash leaves)', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grant = await connect(env, { refreshExpiresAt: env.t0 + DAY });
    await crashAfterExchange(env, clock, LEASE_MS);
    // The next scheduled run, 15 minutes later on both clocks.
    clock.advance(15 * 60_000);

    expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ refreshed: 0, needsReauth: 1 });
    expect((await env.store.getGrant(grant.grant.grantId))?.status).toBe('NEEDS_REAUTH');
    const line = logs.find((entry) => entry.includes('Grant needs re-authorization'));
    expect(line).toContain('"afterInterruptedRotation":true');
  });

  describe('a KMS or DynamoDB outage while Smartcar has just rotated the pair (runs 15 minutes apart)', () => {
    /** The pair Smartcar issued during the outage is the stored one, current at Smartcar, and works. */
    const STORED_AND_WORKING = {
      version: 2,
      status: 'ACTIVE',
      refreshTokenState: 'active',
      accessTokenWorks: true,
    };
    const scenario = (overrides: Partial<Parameters<typeof runRotationOutage>[0]>) =>
      runRotationOutage({ backends, smartcar: gateway, service: 'dynamodb', ...overrides });

    for (const service of ['dynamodb', 'kms'] as const) {
      it(`${service}, 30 s: ridden out by the persist's retries inside the invocation; nothing parked, nothing lost`, async () => {
        const report = await scenario({ service, outageMs: 30_000 });
        expect(report.runs[0]).toEqual({ due: 1, refreshed: 1, skipped: 0, failed: 0, needsReauth: 0 });
        expect(report.parked).toBe(0);
        expect(report.storedAfterOutage).toEqual(STORED_AND_WORKING);
        expect(report.runs[2]).toMatchObject({ due: 1, refreshed: 1, needsReauth: 0 });
        expect(report.lost).toBe(false);
      });

      it(`${service}, longer than the invocation has left: parked, applied by the next run, nothing lost`, async () => {
        const report = await scenario({ service, outageMs: 10 * 60_000, invocationMs: 75_000 });
        expect(report.runs[0]).toEqual({ due: 1, refreshed: 0, skipped: 0, failed: 1, needsReauth: 0 });
        expect(report.parked).toBe(1);
        // The next run applied the parked pair before selecting: nothing was due, Smartcar was not called.
        expect(report.runs[1]).toEqual({ due: 0, refreshed: 0, skipped: 0, failed: 0, needsReauth: 0 });
        expect(report.queueLeft).toBe(0);
        expect(report.storedAfterOutage).toEqual(STORED_AND_WORKING);
        // One exchange during the outage, one 55 days later with the pair that had been parked.
        expect(report.exchanges).toBe(2);
        expect(report.runs[2]).toMatchObject({ due: 1, refreshed: 1, needsReauth: 0 });
        expect(report.lost).toBe(false);
        expect(metricCalls('TokenRotationParked')).toHaveLength(1);
        expect(metricCalls('TokenRotationNotPersisted')).toHaveLength(0);
      });
    }

    it('kms hanging (no answer at all): every call ends at its request timeout; parked, nothing lost', async () => {
      const report = await scenario({
        service: 'kms',
        kmsMode: 'hang',
        outageMs: 10 * 60_000,
        invocationMs: 75_000,
      });
      expect(report.parked).toBe(1);
      expect(report.storedAfterOutage).toMatchObject({ version: 2, accessTokenWorks: true });
      expect(report.lost).toBe(false);
    });

    it('a claimant that presents the rotated token after its reuse window marks NEEDS_REAUTH; the parked pair undoes it', async () => {
      const report = await scenario({
        service: 'dynamodb',
        outageMs: 2 * 60_000,
        invocationMs: 75_000,
        interloper: true,
      });
      expect(report.parked).toBe(1);
      expect(report.statusBeforeNextRun).toBe('NEEDS_REAUTH');
      expect(report.storedAfterOutage).toEqual(STORED_AND_WORKING);
      expect(report.vehicleStatuses).toEqual(['CONNECTED']);
      expect(report.lost).toBe(false);
    });
  });

  it('invalid_grant: the grant and its vehicles become NEEDS_REAUTH, one log line without tokens, and no later run selects it', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grant = await connect(env, { refreshExpiresAt: env.t0 + DAY }, 2);
    fake.clearCalls();
    fake.failNext('token', 400, {
      error: 'invalid_grant',
      error_description: 'Invalid or expired refresh token.',
    });

    const summary = await run(jobFor(env, clock), env, clock);

    expect(summary).toEqual({ due: 1, refreshed: 0, skipped: 0, failed: 0, needsReauth: 1 });
    // Not retried: one call.
    expect(exchangesOf(grant.tokens.refreshToken)).toHaveLength(1);
    const raw = await rawGrant(env, grant.grant.grantId);
    expect(raw).toMatchObject({ status: 'NEEDS_REAUTH', version: 1, needsReauthReason: 'invalid_grant' });
    expect(raw?.dueShard).toBeUndefined();
    expect(raw?.leaseOwner).toBeUndefined();
    for (const vehicleId of grant.vehicleIds)
      expect(await profileStatus(env, vehicleId)).toBe('NEEDS_REAUTH');
    expect(metricCalls('GrantNeedsReauth').length).toBeGreaterThanOrEqual(1);
    const lines = logs.filter((entry) => entry.includes('Grant needs re-authorization'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({
      grantId: grant.grant.grantId,
      appUserId: grant.grant.appUserId,
      reason: 'invalid_grant',
    });
    expect([...(line.vehicleIds as string[])].sort()).toEqual([...grant.vehicleIds].sort());
    expect(logs.join('')).not.toContain(grant.tokens.refreshToken);

    // Out of the index: the next run neither reads nor retries it.
    fake.clearCalls();
    sent.length = 0;
    expect(await run(jobFor(env, clock), env, clock)).toEqual({
      due: 0,
      refreshed: 0,
      skipped: 0,
      failed: 0,
      needsReauth: 0,
    });
    expect(refreshExchanges()).toHaveLength(0);
    expect(sent.filter((c) => c.command === 'QueryCommand').reduce((s, q) => s + (q.scanned ?? 0), 0)).toBe(
      0,
    );
    // getAccessToken says so instead of calling Smartcar.
    const provider = createAccessTokenProvider({
      links: env.links,
      tokens: env.store,
      rotation: rotationFor(env, clock),
    });
    await expect(provider.getAccessToken(grant.vehicleIds[0] ?? '')).rejects.toBeInstanceOf(
      GrantNeedsReauthError,
    );
  });

  it('a refresh token already past its expiry is marked NEEDS_REAUTH without calling Smartcar', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grant = await connect(env, { refreshExpiresAt: env.t0 - 1_000 });
    fake.clearCalls();
    const summary = await run(jobFor(env, clock), env, clock);
    expect(summary).toEqual({ due: 1, refreshed: 0, skipped: 0, failed: 0, needsReauth: 1 });
    expect(refreshExchanges()).toHaveLength(0);
    expect((await rawGrant(env, grant.grant.grantId))?.needsReauthReason).toBe('refresh_token_expired');
    expect(await profileStatus(env, grant.vehicleIds[0] ?? '')).toBe('NEEDS_REAUTH');
  });

  it('honours Retry-After: waits that long (plus jitter), retries, then starts no new refresh in this run', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grants = await Promise.all(
      Array.from({ length: 3 }, (_, i) => connect(env, { refreshExpiresAt: env.t0 + DAY + i * HOUR })),
    );
    fake.clearCalls();
    fake.failNext('token', 429, undefined, { retryAfter: 7 });

    const summary = await run(jobFor(env, clock, { concurrency: 1 }), env, clock);

    expect(summary).toEqual({ due: 3, refreshed: 1, skipped: 2, failed: 0, needsReauth: 0 });
    // The first grant: a 429, then after ≈ 7 s (Retry-After + up to 1 s of jitter) the retry that succeeded.
    expect(clock.sleeps).toHaveLength(1);
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(7_000);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(8_000);
    expect(exchangesOf(grants[0]?.tokens.refreshToken ?? '')).toHaveLength(2);
    expect(refreshExchanges()).toHaveLength(2);
    // The others were not started: untouched, due again next run.
    for (const other of grants.slice(1)) {
      expect(exchangesOf(other.tokens.refreshToken)).toHaveLength(0);
      expect(await env.store.getGrant(other.grant.grantId)).toMatchObject({ version: 1 });
    }
    expect(logs.join('')).toContain('"stoppedEarly":"rate_limited"');
    fake.clearCalls();
    expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ due: 2, refreshed: 2 });
  });

  it('a Retry-After longer than the lease allows: gives the grant back at once and stops the run', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grants = await Promise.all(
      Array.from({ length: 3 }, (_, i) => connect(env, { refreshExpiresAt: env.t0 + DAY + i * HOUR })),
    );
    fake.clearCalls();
    fake.failNext('token', 429, undefined, { retryAfter: 600 });

    const summary = await run(jobFor(env, clock, { concurrency: 1 }), env, clock);

    expect(summary).toEqual({ due: 3, refreshed: 0, skipped: 3, failed: 0, needsReauth: 0 });
    expect(refreshExchanges()).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    const first = await env.store.getGrant(grants[0]?.grant.grantId ?? '');
    expect(first).toMatchObject({ version: 1, status: 'ACTIVE' });
    // Released: claimable right away by the next run / getAccessToken (after Retry-After).
    expect(first?.leaseOwner).toBeUndefined();
  });

  it('retries 5xx with backoff using the same refresh token; gives up after bounded attempts and releases the lease', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const flaky = await connect(env, { refreshExpiresAt: env.t0 + DAY });
    fake.clearCalls();
    fake.failNext('token', 500);
    expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ refreshed: 1, failed: 0 });
    expect(exchangesOf(flaky.tokens.refreshToken)).toHaveLength(2);
    expect(clock.sleeps).toHaveLength(1);

    const down = await connect(env, { refreshExpiresAt: env.t0 + DAY });
    fake.clearCalls();
    fake.setDown(true, { routes: ['token'] });
    try {
      expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ due: 1, refreshed: 0, failed: 1 });
    } finally {
      fake.setDown(false, { routes: ['token'] });
    }
    expect(exchangesOf(down.tokens.refreshToken)).toHaveLength(3);
    const after = await env.store.getGrant(down.grant.grantId);
    expect(after).toMatchObject({ version: 1, status: 'ACTIVE' });
    expect(after?.leaseOwner).toBeUndefined();
    // Still due: the next run tries again.
    fake.clearCalls();
    expect(await run(jobFor(env, clock), env, clock)).toMatchObject({ due: 1, refreshed: 1 });
  });

  it('rejected client credentials (401) fail the run without marking any grant NEEDS_REAUTH', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const grants = await Promise.all(
      Array.from({ length: 3 }, (_, i) => connect(env, { refreshExpiresAt: env.t0 + DAY + i * HOUR })),
    );
    fake.clearCalls();
    fake.failNext('token', 401);
    const summary = await run(jobFor(env, clock, { concurrency: 1 }), env, clock);
    expect(summary).toEqual({ due: 3, refreshed: 0, skipped: 2, failed: 1, needsReauth: 0 });
    expect(refreshExchanges()).toHaveLength(1);
    for (const grant of grants) {
      expect(await env.store.getGrant(grant.grant.grantId)).toMatchObject({ status: 'ACTIVE', version: 1 });
    }
    expect(metricCalls('SmartcarClientRejected')).toHaveLength(1);
  });

  it('deletes grants without vehicles left behind by an interrupted callback, once they are old', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const orphan = await fillerGrant(env, env.t0 + DAY);
    fake.clearCalls();
    const summary = await run(jobFor(env, clock), env, clock);
    expect(summary).toEqual({ due: 1, refreshed: 0, skipped: 1, failed: 0, needsReauth: 0 });
    expect(await env.store.getGrant(orphan.grantId)).toBeUndefined();
    expect(refreshExchanges()).toHaveLength(0);
  });
});

describe('getAccessToken', () => {
  it('returns the stored token while it is valid for more than 5 minutes, refreshes it when not', async () => {
    const env = await freshEnv();
    const clock = new LinkedClock(fake);
    const fresh = await connect(env, { refreshExpiresAt: env.t0 + 40 * DAY, accessExpiresAt: env.t0 + HOUR });
    const stale = await connect(env, {
      refreshExpiresAt: env.t0 + 40 * DAY,
      accessExpiresAt: env.t0 + 4 * 60_000,
    });
    fake.clearCalls();
    const provider = createAccessTokenProvider({
      links: env.links,
      tokens: env.store,
      rotation: rotationFor(env, clock),
      clock: clock.now,
      sleep: clock.sleep,
    });

    const a = await provider.getAccessToken(fresh.vehicleIds[0] ?? '');
    expect(a).toEqual({
      accessToken: fresh.tokens.accessToken,
      expiresAt: env.t0 + HOUR,
      grantId: fresh.grant.grantId,
    });
    expect(refreshExchanges()).toHaveLength(0);

    const b = await provider.getAccessToken(stale.vehicleIds[0] ?? '');
    expect(exchangesOf(stale.tokens.refreshToken)).toHaveLength(1);
    const stored = await env.store.readGrantTokens(stale.grant.grantId);
    expect(b.accessToken).toBe(stored?.tokens.accessToken);
    expect(stored?.grant.version).toBe(2);
    expect(await worksAtSmartcar(b.accessToken)).toBe(true);
    // Refreshed once: the next call gets the stored token without Smartcar.
    fake.clearCalls();
    expect((await provider.getAccessToken(stale.vehicleIds[0] ?? '')).accessToken).toBe(b.accessToken);
    expect(refreshExchanges()).toHaveLength(0);

    await expect(provider.getAccessToken('unknown-vehicle')).rejects.toBeInstanceOf(VehicleNotConnectedError);
  });
});

describe('local tables', () => {
  it('use the index names of the token store, and add both due indexes to a token table created before them', async () => {
    expect([LOCAL_REFRESH_INDEX, LOCAL_ACCESS_INDEX]).toEqual([
      BY_REFRESH_EXPIRY_INDEX,
      BY_ACCESS_EXPIRY_INDEX,
    ]);
    // A database of its own, like a `.local/` one: with the dozens of tables the tests above created, DynamoDB
    // Local leaves an index created by UpdateTable in CREATING for good (not so with local mode's four tables).
    const own = await startTestDynamoDb();
    try {
      await upgradesOldTokenTable(own.client);
    } finally {
      await own.stop();
    }
  });
});

async function upgradesOldTokenTable(client: DynamoDBClient): Promise<void> {
  const names = {
    vehicleTable: 'old-rf-vehicles',
    idempotencyTable: 'old-rf-idempotency',
    oauthStateTable: 'old-rf-states',
    tokenTable: 'old-rf-tokens',
  };
  // The token table as local/stand-ins/dynamodb-tables.ts created it before the refresh job existed: no GSI, grants without `dueShard`.
  await client.send(
    new CreateTableCommand({
      TableName: names.tokenTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'grantId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'grantId', KeyType: 'HASH' }],
    }),
  );
  const documents = DynamoDBDocumentClient.from(client);
  const oldGrant = (grantId: string, status: string) => ({
    grantId,
    appUserId: 'app',
    smartcarUserId: 'sc',
    accessToken: 'ciphertext',
    refreshToken: 'ciphertext',
    keyId: 'key',
    accessExpiresAt: 1_000,
    refreshExpiresAt: 2_000,
    version: 1,
    status,
    createdAt: 1,
    updatedAt: 1,
  });
  await documents.send(
    new PutCommand({ TableName: names.tokenTable, Item: oldGrant('old-active', 'ACTIVE') }),
  );
  await documents.send(
    new PutCommand({ TableName: names.tokenTable, Item: oldGrant('old-reauth', 'NEEDS_REAUTH') }),
  );

  await ensureTables(client, names);

  const table = (await client.send(new DescribeTableCommand({ TableName: names.tokenTable }))).Table;
  const indexes = (table?.GlobalSecondaryIndexes ?? []).map((index) => ({
    name: index.IndexName,
    keys: index.KeySchema?.map((key) => key.AttributeName),
    projection: [index.Projection?.ProjectionType, ...(index.Projection?.NonKeyAttributes ?? [])],
    status: index.IndexStatus,
  }));
  expect(indexes.sort((x, y) => String(x.name).localeCompare(String(y.name)))).toEqual([
    {
      name: 'byAccessExpiry',
      keys: ['dueShard', 'accessExpiresAt'],
      projection: ['INCLUDE', 'version', 'refreshExpiresAt'],
      status: 'ACTIVE',
    },
    {
      name: 'byRefreshExpiry',
      keys: ['dueShard', 'refreshExpiresAt'],
      projection: ['INCLUDE', 'version', 'accessExpiresAt'],
      status: 'ACTIVE',
    },
  ]);
  // The ACTIVE grant from before the refresh job was put into the due indexes; the one awaiting re-auth was not.
  const store = dynamoTokenStore({ client: documents, tableName: names.tokenTable });
  expect(await store.listDue('refresh', 10_000)).toEqual([
    { grantId: 'old-active', version: 1, accessExpiresAt: 1_000, refreshExpiresAt: 2_000 },
  ]);
  // Idempotent on the next start.
  await ensureTables(client, names);
}
