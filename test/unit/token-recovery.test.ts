import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startKmsFake, type KmsFake } from '../../local/stand-ins/kms.js';
import { createRefreshJob } from '../../lambdas/token-refresh/refresh-job.js';
import { GrantConflictError, type GrantRecord } from '../../lambdas/tokens/grant.js';
import { kmsRecoverySealer } from '../../lambdas/tokens/kms-recovery-sealer.js';
import {
  createRecoveryApplier,
  encodeRecoveryMessage,
  RecoveryMessageError,
  type ParkedRotation,
  type RecoveryApplierDeps,
  type SealedRotation,
} from '../../lambdas/tokens/token-recovery.js';
import type { RotationResult } from '../../lambdas/tokens/token-rotation.js';
import { memoryRecoveryQueue } from '../support/rotation-outage.js';

/**
 * The durable fallback of a rotation: the seal (against the KMS stand-in: the data key's encryption context
 * and the sealed fields are authenticated) and what the next run does with each parked pair.
 */

const NOW = 1_770_000_000_000;
const logger = new Logger({ serviceName: 'recovery-test', logLevel: 'ERROR' });
const metrics = new Metrics({ namespace: 'Test', serviceName: 'recovery-test' });

const parkedRotation = (overrides: Partial<ParkedRotation> = {}): ParkedRotation => ({
  grantId: 'grant-1',
  appUserId: 'app-1',
  claimedVersion: 3,
  owner: 'job:run-1#abc',
  parkedAt: NOW,
  accessExpiresAt: NOW + 7_200_000,
  refreshExpiresAt: NOW + 60 * 86_400_000,
  ...overrides,
});
const tokens = { accessToken: 'access-new', refreshToken: 'refresh-new' };

const grant = (overrides: Partial<GrantRecord> = {}): GrantRecord => ({
  grantId: 'grant-1',
  appUserId: 'app-1',
  smartcarUserId: 'sc-1',
  keyId: 'key',
  accessExpiresAt: NOW,
  refreshExpiresAt: NOW,
  version: 3,
  vehicleIds: ['veh-1', 'veh-2'],
  status: 'ACTIVE',
  scopes: [],
  createdAt: NOW,
  updatedAt: NOW,
  ...overrides,
});

let kmsFake: KmsFake;
let kms: KMSClient;

beforeAll(async () => {
  kmsFake = await startKmsFake({ port: 0 });
  kms = new KMSClient({
    endpoint: kmsFake.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  vi.spyOn(Metrics.prototype, 'addMetric');
});
afterAll(async () => {
  vi.restoreAllMocks();
  kms.destroy();
  await kmsFake.stop();
});
beforeEach(() => {
  vi.mocked(Metrics.prototype.addMetric).mockClear();
  kmsFake.setOutage(null);
});

describe('recovery seal', () => {
  const sealer = () => kmsRecoverySealer(kms, 'alias/recovery-test');

  it('seals without KMS once prepared, and opens to the same pair; no token in the message', async () => {
    const seal = await sealer().prepare({ grantId: 'grant-1', appUserId: 'app-1' });
    // KMS down from here on: sealing is local.
    kmsFake.setOutage({ until: Number.MAX_SAFE_INTEGER });
    const message = seal.seal(parkedRotation(), tokens);
    kmsFake.setOutage(null);
    const body = encodeRecoveryMessage(message);
    expect(body).not.toContain('access-new');
    expect(body).not.toContain('refresh-new');
    expect(await sealer().open(message)).toEqual(tokens);
    const generate = kmsFake.calls.find((call) => call.operation === 'GenerateDataKey');
    expect(generate?.encryptionContext).toEqual({
      grantId: 'grant-1',
      appUserId: 'app-1',
      tokenType: 'recovery',
    });
  });

  it('refuses a message whose cleartext was altered or moved to another grant', async () => {
    const seal = await sealer().prepare({ grantId: 'grant-1', appUserId: 'app-1' });
    const message = seal.seal(parkedRotation(), tokens);
    const altered: SealedRotation[] = [
      { ...message, claimedVersion: 2 },
      { ...message, refreshExpiresAt: message.refreshExpiresAt + 1 },
      { ...message, owner: 'job:other#x' },
      // The data key is bound to its grant by KMS.
      { ...message, grantId: 'grant-2' },
    ];
    for (const forged of altered) {
      await expect(sealer().open(forged)).rejects.toBeInstanceOf(RecoveryMessageError);
    }
    // A seal is for the grant it was prepared for only.
    expect(() => seal.seal(parkedRotation({ grantId: 'grant-2' }), tokens)).toThrow();
  });
});

describe('applying parked pairs', () => {
  function setup(store: Partial<RecoveryApplierDeps['tokens']>) {
    const queue = memoryRecoveryQueue(() => NOW);
    const tokensStore: RecoveryApplierDeps['tokens'] = {
      applyParkedRotation: vi.fn(() => Promise.resolve(grant())),
      getGrant: vi.fn(() => Promise.resolve(undefined)),
      ...store,
    };
    const profiles = { clearNeedsReauth: vi.fn(() => Promise.resolve()) };
    const open = vi.fn((message: SealedRotation) =>
      message.ciphertext === 'bad'
        ? Promise.reject(new RecoveryMessageError('forged'))
        : Promise.resolve(tokens),
    );
    const applier = createRecoveryApplier({
      queue,
      sealer: { open },
      tokens: tokensStore,
      profiles,
      logger,
      metrics,
      clock: () => NOW,
    });
    const park = (overrides: Partial<SealedRotation> = {}) =>
      queue.send(
        encodeRecoveryMessage({
          v: 1,
          ...parkedRotation(),
          dataKey: 'k',
          iv: 'i',
          tag: 't',
          ciphertext: 'c',
          ...overrides,
        }),
      );
    return { queue, tokensStore, profiles, applier, park, open };
  }

  it('writes the pair for the claimed version and deletes the message', async () => {
    const { queue, tokensStore, profiles, applier, park } = setup({});
    await park();
    const report = await applier.applyPending({ endsAt: NOW + 60_000 });
    expect(report).toMatchObject({ applied: 1, stale: 0, malformed: 0 });
    expect(report.pending.size).toBe(0);
    expect(tokensStore.applyParkedRotation).toHaveBeenCalledWith(
      expect.objectContaining({ grantId: 'grant-1', claimedVersion: 3, owner: 'job:run-1#abc' }),
      { ...tokens, accessExpiresAt: NOW + 7_200_000, refreshExpiresAt: NOW + 60 * 86_400_000 },
      NOW,
    );
    expect(queue.size()).toBe(0);
    // The grant was ACTIVE: its vehicles are left alone.
    expect(profiles.clearNeedsReauth).not.toHaveBeenCalled();
  });

  it('over a NEEDS_REAUTH of the same version (a claimant after the reuse window): the vehicles are set back', async () => {
    const { profiles, applier, park } = setup({
      applyParkedRotation: () => Promise.resolve(grant({ status: 'NEEDS_REAUTH' })),
    });
    await park();
    expect(await applier.applyPending({ endsAt: NOW + 60_000 })).toMatchObject({ applied: 1 });
    expect(profiles.clearNeedsReauth).toHaveBeenCalledWith(['veh-1', 'veh-2'], 'grant-1', NOW);
  });

  it('already applied (rotatedBy is the parking owner): deleted, vehicles restored, not counted twice', async () => {
    const { queue, profiles, applier, park } = setup({
      applyParkedRotation: () => Promise.reject(new GrantConflictError('grant-1')),
      getGrant: () => Promise.resolve(grant({ version: 4, rotatedBy: 'job:run-1#abc' })),
    });
    await park();
    expect(await applier.applyPending({ endsAt: NOW + 60_000 })).toMatchObject({ applied: 0, stale: 0 });
    expect(queue.size()).toBe(0);
    expect(profiles.clearNeedsReauth).toHaveBeenCalledTimes(1);
  });

  it('superseded (another claimant rotated within the reuse window) or the grant deleted: deleted, nothing written', async () => {
    for (const current of [grant({ version: 4, rotatedBy: 'access#other' }), undefined]) {
      const { queue, applier, park } = setup({
        applyParkedRotation: () => Promise.reject(new GrantConflictError('grant-1')),
        getGrant: () => Promise.resolve(current),
      });
      await park();
      const report = await applier.applyPending({ endsAt: NOW + 60_000 });
      expect(report.pending.size).toBe(0);
      expect(queue.size()).toBe(0);
    }
  });

  it('storage failing, or another live lease on the same version: kept in the queue and reported pending', async () => {
    const failing = [
      setup({ applyParkedRotation: () => Promise.reject(new Error('DynamoDB unavailable')) }),
      setup({
        applyParkedRotation: () => Promise.reject(new GrantConflictError('grant-1')),
        getGrant: () => Promise.resolve(grant({ leaseOwner: 'access#live', leaseUntil: NOW + 30_000 })),
      }),
    ];
    for (const { queue, applier, park } of failing) {
      await park();
      const report = await applier.applyPending({ endsAt: NOW + 60_000 });
      expect([...report.pending]).toEqual(['grant-1']);
      expect(queue.size()).toBe(1);
    }
  });

  it('a message that is not a sealed pair of ours is left for the DLQ, never applied', async () => {
    const { queue, tokensStore, applier, park } = setup({});
    await queue.send('{"not":"a recovery message"}');
    await park({ ciphertext: 'bad' });
    const report = await applier.applyPending({ endsAt: NOW + 60_000 });
    expect(report).toMatchObject({ applied: 0, malformed: 2 });
    expect(tokensStore.applyParkedRotation).not.toHaveBeenCalled();
    expect(queue.size()).toBe(2);
  });

  it('the job applies parked pairs before selecting, skips grants still pending, and fails when the queue cannot be read', async () => {
    const { applier, park } = setup({
      applyParkedRotation: () => Promise.reject(new Error('DynamoDB unavailable')),
    });
    await park();
    const rotate = vi.fn(() => Promise.resolve({ outcome: 'rotated' } as RotationResult));
    const listDue = vi.fn(() =>
      Promise.resolve([
        { grantId: 'grant-1', version: 3 },
        { grantId: 'grant-2', version: 1 },
      ]),
    );
    const job = createRefreshJob({
      tokens: { listDue },
      rotation: { rotate },
      recovery: applier,
      config: { refreshWindowMs: 1, accessWarmWindowMs: 0, concurrency: 1 },
      logger,
      metrics,
      clock: () => NOW,
    });
    const run = { now: NOW, endsAt: NOW + 300_000, runId: 'r' };
    expect(await job.run(run)).toEqual({ due: 2, refreshed: 1, skipped: 1, failed: 0, needsReauth: 0 });
    // The parked grant still stores the rotated refresh token: it must not be presented again.
    expect(rotate.mock.calls.map((call) => (call as unknown[])[0])).toEqual([
      expect.objectContaining({ grantId: 'grant-2' }),
    ]);

    const unreadable = memoryRecoveryQueue(() => NOW);
    unreadable.failUntil(NOW + 1);
    const blind = createRefreshJob({
      tokens: { listDue },
      rotation: { rotate },
      recovery: createRecoveryApplier({
        queue: unreadable,
        sealer: { open: () => Promise.resolve(tokens) },
        tokens: {
          applyParkedRotation: () => Promise.resolve(grant()),
          getGrant: () => Promise.resolve(undefined),
        },
        profiles: { clearNeedsReauth: () => Promise.resolve() },
        logger,
        metrics,
        clock: () => NOW,
      }),
      config: { refreshWindowMs: 1, accessWarmWindowMs: 0, concurrency: 1 },
      logger,
      metrics,
      clock: () => NOW,
    });
    await expect(blind.run(run)).rejects.toThrow(/SQS unavailable/);
  });
});
