import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RotationRequest, RotationResult, TokenRotation } from '../../lambdas/tokens/token-rotation.js';
import type { DueGrant, DueIndex } from '../../lambdas/tokens/grant.js';
import {
  createRefreshJob,
  MIN_TIME_TO_START_MS,
  type RefreshJobConfig,
} from '../../lambdas/token-refresh/refresh-job.js';
import { eventTime } from '../../lambdas/token-refresh/create-handler.js';

/** The job's selection, concurrency, stop rules and summary, with the store and the rotation stubbed. */

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 24 * 60 * 60 * 1000;
const logger = new Logger({ serviceName: 'job-test', logLevel: 'ERROR' });
const metrics = new Metrics({ namespace: 'Test', serviceName: 'job-test' });

const due = (n: number, prefix = 'g'): DueGrant[] =>
  Array.from({ length: n }, (_, i) => ({ grantId: `${prefix}${i}`, version: 1 }));

function setup(
  lists: Partial<Record<DueIndex, DueGrant[]>>,
  rotate: (request: RotationRequest) => Promise<RotationResult>,
  config: Partial<RefreshJobConfig> = {},
  clock: () => number = () => NOW,
) {
  const listDue = vi.fn((index: DueIndex, _dueBy: number) => Promise.resolve(lists[index] ?? []));
  const rotation: TokenRotation = { rotate: vi.fn(rotate) };
  const job = createRefreshJob({
    tokens: { listDue },
    rotation,
    config: { refreshWindowMs: 7 * DAY, accessWarmWindowMs: 0, concurrency: 10, ...config },
    logger,
    metrics,
    clock,
  });
  return { job, listDue, rotation };
}

const run = { now: NOW, endsAt: NOW + 5 * 60_000, runId: 'req-1' };

beforeAll(() => {
  vi.spyOn(Metrics.prototype, 'addMetric');
});
afterAll(() => {
  vi.restoreAllMocks();
});
beforeEach(() => {
  vi.mocked(Metrics.prototype.addMetric).mockClear();
});

describe('refresh job', () => {
  it('selects with now + REFRESH_WINDOW_DAYS and passes the run time and a job claimant to every rotation', async () => {
    const { job, listDue, rotation } = setup({ refresh: due(2) }, () =>
      Promise.resolve({ outcome: 'rotated' } as RotationResult),
    );
    expect(await job.run(run)).toEqual({ due: 2, refreshed: 2, skipped: 0, failed: 0, needsReauth: 0 });
    expect(listDue.mock.calls).toEqual([['refresh', NOW + 7 * DAY]]);
    expect(vi.mocked(rotation.rotate).mock.calls[0]?.[0]).toMatchObject({
      grantId: 'g0',
      version: 1,
      now: NOW,
      claimant: 'job:req-1',
    });
  });

  it('with the warm window on, also selects by access expiry, without duplicates', async () => {
    const { job, listDue, rotation } = setup(
      { refresh: due(2), access: [...due(1), ...due(2, 'a')] },
      () => Promise.resolve({ outcome: 'rotated' } as RotationResult),
      { accessWarmWindowMs: 30 * 60_000 },
    );
    expect((await job.run(run)).due).toBe(4);
    expect(listDue.mock.calls).toEqual([
      ['refresh', NOW + 7 * DAY],
      ['access', NOW + 30 * 60_000],
    ]);
    expect(vi.mocked(rotation.rotate).mock.calls.map((call) => call[0].grantId)).toEqual([
      'g0',
      'g1',
      'a0',
      'a1',
    ]);
  });

  it('never has more than REFRESH_CONCURRENCY rotations in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const { job } = setup(
      { refresh: due(25) },
      async () => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight -= 1;
        return { outcome: 'rotated' } as RotationResult;
      },
      { concurrency: 4 },
    );
    expect((await job.run(run)).refreshed).toBe(25);
    expect(peak).toBe(4);
  });

  it('counts every outcome; a 429 or rejected client credentials stop new starts (the rest: skipped)', async () => {
    const outcomes: RotationResult[] = [
      { outcome: 'rotated' } as RotationResult,
      { outcome: 'needs_reauth', reason: 'invalid_grant' },
      { outcome: 'skipped', reason: 'claimed_elsewhere' },
      { outcome: 'failed', reason: 'smartcar_unavailable' },
      { outcome: 'throttled', retryAfterMs: 30_000 },
    ];
    let i = 0;
    const { job, rotation } = setup(
      { refresh: due(8) },
      () => Promise.resolve(outcomes[i++] ?? outcomes[0]!),
      {
        concurrency: 1,
      },
    );
    expect(await job.run(run)).toEqual({ due: 8, refreshed: 1, skipped: 5, failed: 1, needsReauth: 1 });
    expect(rotation.rotate).toHaveBeenCalledTimes(5);

    let j = 0;
    const rejecting = setup(
      { refresh: due(4) },
      () =>
        Promise.resolve(
          j++ === 1
            ? ({ outcome: 'failed', reason: 'client_rejected' } as RotationResult)
            : ({ outcome: 'rotated' } as RotationResult),
        ),
      { concurrency: 1 },
    );
    expect(await rejecting.job.run(run)).toEqual({
      due: 4,
      refreshed: 1,
      skipped: 2,
      failed: 1,
      needsReauth: 0,
    });
  });

  it('starts no refresh with less than 15 s of the invocation left', async () => {
    let time = NOW;
    const { job, rotation } = setup(
      { refresh: due(5) },
      () => {
        time += 100_000;
        return Promise.resolve({ outcome: 'rotated' } as RotationResult);
      },
      { concurrency: 1 },
      () => time,
    );
    // Three rotations of 100 s each start; the fourth would start with 1 ms less than 15 s left.
    const summary = await job.run({ ...run, endsAt: NOW + 3 * 100_000 + MIN_TIME_TO_START_MS - 1 });
    expect(summary).toEqual({ due: 5, refreshed: 3, skipped: 2, failed: 0, needsReauth: 0 });
    expect(rotation.rotate).toHaveBeenCalledTimes(3);
  });

  it('emits the summary as metrics', async () => {
    const { job } = setup({ refresh: due(3) }, () =>
      Promise.resolve({ outcome: 'rotated' } as RotationResult),
    );
    await job.run(run);
    const emitted = Object.fromEntries(
      vi
        .mocked(Metrics.prototype.addMetric)
        .mock.calls.filter((call) => String(call[0]).startsWith('TokenRefresh'))
        .map((call) => [call[0], call[2]]),
    );
    expect(emitted).toEqual({
      TokenRefreshDue: 3,
      TokenRefreshRefreshed: 3,
      TokenRefreshSkipped: 0,
      TokenRefreshFailed: 0,
      TokenRefreshNeedsReauth: 0,
    });
  });

  it('a failing index query fails the run (nothing is claimed)', async () => {
    const { job, listDue, rotation } = setup({}, () =>
      Promise.resolve({ outcome: 'rotated' } as RotationResult),
    );
    listDue.mockRejectedValueOnce(new Error('DynamoDB unavailable'));
    await expect(job.run(run)).rejects.toThrow('DynamoDB unavailable');
    expect(rotation.rotate).not.toHaveBeenCalled();
  });
});

describe('eventTime', () => {
  it('reads an ISO-8601 time, else undefined', () => {
    expect(eventTime({ time: '2026-03-01T12:00:00Z' })).toBe(NOW);
    expect(eventTime({ time: 'yesterday' })).toBeUndefined();
    expect(eventTime({ time: 12 })).toBeUndefined();
    expect(eventTime({})).toBeUndefined();
    expect(eventTime(null)).toBeUndefined();
  });
});
