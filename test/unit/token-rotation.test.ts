import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenExchangeError } from '../../lambdas/smartcar/errors.js';
import type { TokenSet } from '../../lambdas/smartcar/gateway.js';
import { createRateGate } from '../../lambdas/tokens/rate-gate.js';
import {
  createTokenRotation,
  PARK_RESERVE_MS,
  PERSIST_ATTEMPT_TIMEOUT_MS,
  type RotationRequest,
  type TokenRotationDeps,
} from '../../lambdas/tokens/token-rotation.js';
import {
  GrantConflictError,
  TokenDecryptionError,
  type ClaimRequest,
  type GrantClaim,
  type GrantRecord,
} from '../../lambdas/tokens/grant.js';
import { captureOutput } from '../support/output.js';

/**
 * The claim/exchange/persist protocol against an in-memory grant with the token table's conditions, so that
 * failures that are hard to produce on DynamoDB Local (a lost acknowledgement, a takeover) can be injected.
 */

const NOW = 1_770_000_000_000;
const DAY = 24 * 60 * 60 * 1000;

interface Item extends GrantRecord {
  refreshPlain: string;
}

function grantItem(overrides: Partial<Item> = {}): Item {
  return {
    grantId: 'grant-1',
    appUserId: 'app-1',
    smartcarUserId: 'sc-1',
    keyId: 'key',
    accessExpiresAt: NOW + 60_000,
    refreshExpiresAt: NOW + 3 * DAY,
    version: 1,
    vehicleIds: ['veh-1'],
    status: 'ACTIVE',
    scopes: [],
    createdAt: NOW - 50 * DAY,
    updatedAt: NOW - 50 * DAY,
    refreshPlain: 'refresh-1',
    ...overrides,
  };
}

/** One grant with the same conditions as dynamoTokenStore; `hooks` inject failures. */
function memoryTokens(initial: Item) {
  let item: Item = { ...initial };
  let deleted = false;
  const hooks: {
    persist?: (attempt: number) => 'throw-before' | 'throw-after' | undefined;
    decrypt?: () => Error | undefined;
  } = {};
  let persistAttempts = 0;
  const released: string[] = [];
  const record = (value: Item): GrantRecord => {
    const { refreshPlain: _ignored, ...rest } = value;
    return rest;
  };
  const tokens: TokenRotationDeps['tokens'] = {
    claimGrant(request: ClaimRequest) {
      const leaseLive = item.leaseUntil !== undefined && item.leaseUntil >= request.now;
      if (item.version !== request.version || item.status !== 'ACTIVE' || leaseLive) {
        return Promise.resolve(undefined);
      }
      const before = record(item);
      const refresh = item.refreshPlain;
      item = { ...item, leaseOwner: request.owner, leaseUntil: request.now + request.leaseMs };
      const claim: GrantClaim = {
        grant: before,
        owner: request.owner,
        leaseUntil: request.now + request.leaseMs,
        refreshToken: () => {
          const failure = hooks.decrypt?.();
          return failure ? Promise.reject(failure) : Promise.resolve(refresh);
        },
      };
      return Promise.resolve(claim);
    },
    persistRotation(claim, pair: TokenSet, now) {
      persistAttempts += 1;
      const mode = hooks.persist?.(persistAttempts);
      if (mode === 'throw-before') return Promise.reject(new Error('DynamoDB unavailable'));
      if (deleted || item.version !== claim.grant.version || item.leaseOwner !== claim.owner) {
        return Promise.reject(new GrantConflictError(claim.grant.grantId));
      }
      const { leaseOwner: _o, leaseUntil: _u, ...rest } = item;
      item = {
        ...rest,
        version: item.version + 1,
        accessExpiresAt: pair.accessExpiresAt,
        refreshExpiresAt: pair.refreshExpiresAt,
        refreshPlain: pair.refreshToken,
        rotatedBy: claim.owner,
        updatedAt: now,
      };
      // The write landed, but its acknowledgement is lost on the way back.
      if (mode === 'throw-after') return Promise.reject(new Error('socket hang up'));
      return Promise.resolve(record(item));
    },
    releaseClaim(claim) {
      released.push(claim.owner);
      if (item.leaseOwner !== claim.owner || item.version !== claim.grant.version)
        return Promise.resolve(false);
      const { leaseOwner: _o, leaseUntil: _u, ...rest } = item;
      item = rest;
      return Promise.resolve(true);
    },
    markNeedsReauth(grant, now) {
      if (item.version !== grant.version) return Promise.reject(new GrantConflictError(grant.grantId));
      const { leaseOwner: _o, leaseUntil: _u, ...rest } = item;
      item = { ...rest, status: 'NEEDS_REAUTH', updatedAt: now };
      return Promise.resolve();
    },
    deleteGrantIfUnused: () => Promise.resolve(true),
    getGrant: () => Promise.resolve(deleted ? undefined : record(item)),
  };
  return {
    tokens,
    hooks,
    released,
    current: () => item,
    /** The last vehicle is disconnected and the grant deleted. */
    remove() {
      deleted = true;
    },
    /** Another party takes the grant over (as after our lease expired). */
    takeOver(owner: string) {
      item = { ...item, leaseOwner: owner, leaseUntil: NOW + 120_000 };
    },
  };
}

const pair = (n: number): TokenSet => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n + 1}`,
  accessExpiresAt: NOW + 2 * 60 * 60 * 1000,
  refreshExpiresAt: NOW + 60 * DAY,
});

let time = NOW;
const sleeps: number[] = [];
const clock = () => time;
const sleep = (ms: number) => {
  sleeps.push(ms);
  time += ms;
  return Promise.resolve();
};
const logger = new Logger({ serviceName: 'rotation-test', logLevel: 'DEBUG' });
const metrics = new Metrics({ namespace: 'Test', serviceName: 'rotation-test' });
const logs: string[] = [];

/** A recovery seal and queue that record what the rotation parks; `hooks` inject failures. */
function memoryRecovery() {
  const parked: string[] = [];
  const hooks: { prepare?: () => Error | undefined; send?: () => Error | undefined } = {};
  const discarded: number[] = [];
  const recovery: NonNullable<TokenRotationDeps['recovery']> = {
    sealer: {
      prepare: (grant) => {
        const failure = hooks.prepare?.();
        if (failure) return Promise.reject(failure);
        return Promise.resolve({
          // Stands in for the AES-GCM seal: what matters here is which pair is parked, for whom.
          seal: (message, tokens) => ({
            v: 1 as const,
            ...message,
            dataKey: `key-of-${grant.grantId}`,
            iv: 'iv',
            tag: 'tag',
            ciphertext: `sealed(${tokens.refreshToken})`,
          }),
          discard: () => discarded.push(1),
        });
      },
    },
    queue: {
      send: (body) => {
        const failure = hooks.send?.();
        if (failure) return Promise.reject(failure);
        parked.push(body);
        return Promise.resolve();
      },
    },
  };
  return { recovery, parked, hooks, discarded };
}

function setup(
  item: Item,
  exchange: (refreshToken: string) => Promise<TokenSet>,
  recovery?: TokenRotationDeps['recovery'],
) {
  const memory = memoryTokens(item);
  const exchangeRefreshToken = vi.fn((refreshToken: string) => exchange(refreshToken));
  const profiles = { markNeedsReauth: vi.fn(() => Promise.resolve()) };
  const rotation = createTokenRotation({
    tokens: memory.tokens,
    profiles,
    smartcar: { exchangeRefreshToken },
    logger,
    metrics,
    leaseMs: 60_000,
    smartcarTimeoutMs: 5_000,
    clock,
    sleep,
    random: () => 0.5,
    ...(recovery !== undefined && { recovery }),
  });
  return { memory, exchangeRefreshToken, profiles, rotation };
}

const metricNames = () => vi.mocked(Metrics.prototype.addMetric).mock.calls.map((call) => call[0]);

const request = (overrides: Partial<RotationRequest> = {}): RotationRequest => ({
  grantId: 'grant-1',
  version: 1,
  now: NOW,
  endsAt: NOW + 5 * 60_000,
  claimant: 'job:test',
  ...overrides,
});

beforeAll(() => {
  vi.spyOn(Metrics.prototype, 'addMetric');
  captureOutput(logs);
});

afterAll(() => {
  vi.restoreAllMocks();
});

beforeEach(() => {
  time = NOW;
  sleeps.length = 0;
  logs.length = 0;
  vi.mocked(Metrics.prototype.addMetric).mockClear();
});

describe('token rotation', () => {
  it('a persist whose acknowledgement was lost is recognised by rotatedBy: rotated, one exchange', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    memory.hooks.persist = (attempt) => (attempt === 1 ? 'throw-after' : undefined);
    const result = await rotation.rotate(request());
    expect(result).toMatchObject({ outcome: 'rotated', grant: { version: 2 } });
    expect(exchangeRefreshToken).toHaveBeenCalledTimes(1);
    expect(memory.current()).toMatchObject({ version: 2, refreshPlain: 'refresh-3' });
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('retries a failing persist with backoff while holding the pair in memory', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    memory.hooks.persist = (attempt) => (attempt <= 3 ? 'throw-before' : undefined);
    const result = await rotation.rotate(request());
    expect(result.outcome).toBe('rotated');
    expect(exchangeRefreshToken).toHaveBeenCalledTimes(1);
    expect(sleeps).toHaveLength(3);
    // Exponential: each wait longer than the one before.
    expect(sleeps[1]).toBeGreaterThan(sleeps[0] ?? 0);
    expect(sleeps[2]).toBeGreaterThan(sleeps[1] ?? 0);
  });

  it('a pair that cannot be stored at all: TokenRotationNotPersisted, lease released for a quick recovery', async () => {
    const { memory, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    memory.hooks.persist = () => 'throw-before';
    const result = await rotation.rotate(request());
    expect(result).toEqual({ outcome: 'failed', reason: 'not_persisted' });
    expect(memory.current()).toMatchObject({ version: 1, refreshPlain: 'refresh-1' });
    expect(memory.current().leaseOwner).toBeUndefined();
    expect(vi.mocked(Metrics.prototype.addMetric).mock.calls.map((call) => call[0])).toContain(
      'TokenRotationNotPersisted',
    );
    expect(logs.join('')).not.toContain('refresh-3');
  });

  it('keeps retrying a failing persist until the outage ends, not a fixed number of times: a 30 s outage loses nothing', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    const outageEnds = NOW + 30_000;
    memory.hooks.persist = () => (time < outageEnds ? 'throw-before' : undefined);
    const result = await rotation.rotate(request());
    expect(result).toMatchObject({ outcome: 'rotated', grant: { version: 2 } });
    expect(exchangeRefreshToken).toHaveBeenCalledTimes(1);
    expect(memory.current()).toMatchObject({ version: 2, refreshPlain: 'refresh-3' });
    expect(time).toBeGreaterThanOrEqual(outageEnds);
    // Capped backoff: a few seconds between attempts, never one long sleep past the outage.
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(3_000);
  });

  it('gives up a hung persist attempt after PERSIST_ATTEMPT_TIMEOUT_MS and tries again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { memory, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
      const real = memory.tokens.persistRotation.bind(memory.tokens);
      let attempts = 0;
      memory.tokens.persistRotation = (claim, tokens, now) => {
        attempts += 1;
        // The first attempt never answers (a hung socket); the second works.
        return attempts === 1 ? new Promise<never>(() => undefined) : real(claim, tokens, now);
      };
      const pending = rotation.rotate(request());
      await vi.advanceTimersByTimeAsync(PERSIST_ATTEMPT_TIMEOUT_MS);
      expect(await pending).toMatchObject({ outcome: 'rotated' });
      expect(attempts).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a pair that cannot be stored before the deadline is parked, sealed, for the next run; the lease is kept', async () => {
    const { recovery, parked, discarded } = memoryRecovery();
    const { memory, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)), recovery);
    memory.hooks.persist = () => 'throw-before';
    const result = await rotation.rotate(request({ endsAt: NOW + 60_000 }));
    expect(result).toEqual({ outcome: 'failed', reason: 'parked' });
    expect(parked).toHaveLength(1);
    const message = JSON.parse(parked[0] ?? '{}') as Record<string, unknown>;
    expect(message).toMatchObject({
      v: 1,
      grantId: 'grant-1',
      appUserId: 'app-1',
      claimedVersion: 1,
      accessExpiresAt: pair(2).accessExpiresAt,
      refreshExpiresAt: pair(2).refreshExpiresAt,
      ciphertext: 'sealed(refresh-3)',
    });
    expect(message.owner).toBe(memory.current().leaseOwner);
    // No plaintext token in the message or the logs.
    expect(parked[0]).not.toContain('"refresh-3"');
    expect(logs.join('')).not.toContain('refresh-3');
    // Persist retries stopped PARK_RESERVE_MS before the end, leaving time to park.
    expect(time).toBeLessThanOrEqual(NOW + 60_000 - PARK_RESERVE_MS);
    expect(memory.current()).toMatchObject({ version: 1, refreshPlain: 'refresh-1' });
    expect(memory.released).toEqual([]);
    expect(metricNames()).toContain('TokenRotationParked');
    expect(metricNames()).not.toContain('TokenRotationNotPersisted');
    expect(discarded).toHaveLength(1);
  });

  it('parking fails too: TokenRotationNotPersisted and the lease released for a quick recovery', async () => {
    const { recovery, parked, hooks } = memoryRecovery();
    hooks.send = () => new Error('SQS unavailable');
    const { memory, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)), recovery);
    memory.hooks.persist = () => 'throw-before';
    expect(await rotation.rotate(request({ endsAt: NOW + 60_000 }))).toEqual({
      outcome: 'failed',
      reason: 'not_persisted',
    });
    expect(parked).toEqual([]);
    expect(memory.current().leaseOwner).toBeUndefined();
    expect(metricNames()).toContain('TokenRotationNotPersisted');
    expect(time).toBeLessThanOrEqual(NOW + 60_000);
  });

  it('without a recovery seal (KMS refused the data key) Smartcar is not called: nothing could be parked', async () => {
    const { recovery, hooks } = memoryRecovery();
    hooks.prepare = () => new Error('KMSInternalException');
    const { memory, exchangeRefreshToken, rotation } = setup(
      grantItem(),
      () => Promise.resolve(pair(2)),
      recovery,
    );
    expect(await rotation.rotate(request())).toEqual({ outcome: 'failed', reason: 'recovery_unavailable' });
    expect(exchangeRefreshToken).not.toHaveBeenCalled();
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('someone took the grant over after our lease: our pair is not written over theirs', async () => {
    const { memory, rotation } = setup(grantItem(), () => {
      memory.takeOver('job:other#x');
      return Promise.resolve(pair(2));
    });
    const result = await rotation.rotate(request());
    expect(result).toEqual({ outcome: 'failed', reason: 'lease_lost' });
    expect(memory.current()).toMatchObject({ version: 1, leaseOwner: 'job:other#x' });
    expect(memory.released).toEqual([]);
  });

  it('a grant deleted (last vehicle disconnected) during the exchange: skipped, nothing stored', async () => {
    const { memory, rotation } = setup(grantItem(), () => {
      memory.remove();
      return Promise.resolve(pair(2));
    });
    expect(await rotation.rotate(request())).toEqual({ outcome: 'skipped', reason: 'grant_deleted' });
    expect(vi.mocked(Metrics.prototype.addMetric).mock.calls.map((call) => call[0])).not.toContain(
      'TokenRotationNotPersisted',
    );
  });

  it('a live lease: skipped without calling Smartcar', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    memory.takeOver('access#y');
    expect(await rotation.rotate(request())).toEqual({ outcome: 'skipped', reason: 'claimed_elsewhere' });
    expect(exchangeRefreshToken).not.toHaveBeenCalled();
  });

  it('an expired lease of an interrupted rotation is taken over and counted as recovered', async () => {
    const { rotation } = setup(grantItem({ leaseOwner: 'job:dead#z', leaseUntil: NOW - 1 }), () =>
      Promise.resolve(pair(2)),
    );
    expect(await rotation.rotate(request())).toMatchObject({ outcome: 'rotated', resumed: true });
    expect(vi.mocked(Metrics.prototype.addMetric).mock.calls.map((call) => call[0])).toContain(
      'TokenRotationRecovered',
    );
  });

  it('a refresh token that does not decrypt: released, no Smartcar call', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    memory.hooks.decrypt = () => new TokenDecryptionError('grant-1', 'refresh');
    expect(await rotation.rotate(request())).toEqual({ outcome: 'failed', reason: 'decrypt_failed' });
    expect(exchangeRefreshToken).not.toHaveBeenCalled();
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('transient failures: bounded attempts with growing backoff, always with the stored token', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () =>
      Promise.reject(new TokenExchangeError('transient', { statusCode: 502 })),
    );
    expect(await rotation.rotate(request())).toEqual({ outcome: 'failed', reason: 'smartcar_unavailable' });
    expect(exchangeRefreshToken).toHaveBeenCalledTimes(3);
    expect(exchangeRefreshToken.mock.calls.map((call) => call[0])).toEqual([
      'refresh-1',
      'refresh-1',
      'refresh-1',
    ]);
    expect(sleeps).toHaveLength(2);
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('the exchange must end PERSIST_RESERVE_MS before the lease: no retry that would run past it', async () => {
    let calls = 0;
    const { rotation } = setup(grantItem(), () => {
      calls += 1;
      // Each failed attempt takes 30 s (e.g. a slow 503).
      time += 30_000;
      return Promise.reject(new TokenExchangeError('transient', { statusCode: 503 }));
    });
    expect(await rotation.rotate(request())).toEqual({ outcome: 'failed', reason: 'smartcar_unavailable' });
    // 60 s lease - 5 s reserve: a second attempt after 30 s + backoff still fits, a third would not.
    expect(calls).toBe(2);
  });

  it('a gate blocked beyond what the rotation could wait: throttled without even claiming', async () => {
    const { memory, exchangeRefreshToken, rotation } = setup(grantItem(), () => Promise.resolve(pair(2)));
    const gate = createRateGate();
    gate.block(NOW + 10 * 60_000);
    expect(await rotation.rotate(request({ gate }))).toEqual({ outcome: 'throttled' });
    expect(exchangeRefreshToken).not.toHaveBeenCalled();
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('invalid_grant: vehicles first, then the grant; one log line with identifiers only', async () => {
    const { memory, profiles, rotation } = setup(grantItem({ vehicleIds: ['veh-1', 'veh-2'] }), () =>
      Promise.reject(new TokenExchangeError('invalid_grant', { statusCode: 400, type: 'invalid_grant' })),
    );
    expect(await rotation.rotate(request())).toEqual({ outcome: 'needs_reauth', reason: 'invalid_grant' });
    expect(profiles.markNeedsReauth).toHaveBeenCalledWith(['veh-1', 'veh-2'], 'grant-1', NOW);
    expect(memory.current().status).toBe('NEEDS_REAUTH');
    const lines = logs.filter((line) => line.includes('Grant needs re-authorization'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      grantId: 'grant-1',
      appUserId: 'app-1',
      vehicleIds: ['veh-1', 'veh-2'],
      reason: 'invalid_grant',
    });
    expect(logs.join('')).not.toContain('refresh-1');
  });

  it('the vehicles cannot be marked: the grant stays ACTIVE (and due) so a later run redoes both', async () => {
    const { memory, profiles, rotation } = setup(grantItem(), () =>
      Promise.reject(new TokenExchangeError('invalid_grant', { statusCode: 400 })),
    );
    profiles.markNeedsReauth.mockRejectedValueOnce(new Error('DynamoDB unavailable'));
    expect(await rotation.rotate(request())).toEqual({ outcome: 'failed', reason: 'reauth_not_stored' });
    expect(memory.current()).toMatchObject({ status: 'ACTIVE', version: 1 });
    expect(memory.current().leaseOwner).toBeUndefined();
  });

  it('a young grant without vehicles is left to its callback; an old one is deleted', async () => {
    const young = setup(grantItem({ vehicleIds: [], createdAt: NOW - 60_000 }), () =>
      Promise.resolve(pair(2)),
    );
    expect(await young.rotation.rotate(request())).toEqual({ outcome: 'skipped', reason: 'orphan_young' });
    expect(young.memory.current().leaseOwner).toBeUndefined();
    const old = setup(grantItem({ vehicleIds: [] }), () => Promise.resolve(pair(2)));
    expect(await old.rotation.rotate(request())).toEqual({ outcome: 'skipped', reason: 'orphan_deleted' });
    expect(old.exchangeRefreshToken).not.toHaveBeenCalled();
  });
});
