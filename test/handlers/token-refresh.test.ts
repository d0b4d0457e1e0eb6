import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RotationRequest, RotationResult } from '../../lambdas/tokens/token-rotation.js';
import type { DueGrant, DueIndex } from '../../lambdas/tokens/grant.js';
import { createRefreshHandler, type RefreshEvent } from '../../lambdas/token-refresh/create-handler.js';
import {
  createRefreshJob,
  END_RESERVE_MS,
  type RefreshSummary,
} from '../../lambdas/token-refresh/refresh-job.js';
import { lambdaContext } from '../support/api-gateway-events.js';
import { captureOutput } from '../support/output.js';

/**
 * The scheduled handler: EventBridge's `time` is "now" of the run, the answer is the summary, and the summary
 * leaves as Powertools EMF metrics (the `service` dimension the alarms in lib/ watch).
 */

const DAY = 24 * 60 * 60 * 1000;
const CLOCK = Date.parse('2026-05-05T05:05:05Z');
const output: string[] = [];

let dueGrants: DueGrant[] = [];
let outcomes: RotationResult[] = [];
const listDue = vi.fn((_index: DueIndex, _dueBy: number) => Promise.resolve(dueGrants));
const rotate = vi.fn((_request: RotationRequest) =>
  Promise.resolve(
    outcomes.shift() ?? ({ outcome: 'skipped', reason: 'claimed_elsewhere' } as RotationResult),
  ),
);

type Handler = (event: RefreshEvent | null | undefined, context: Context) => Promise<RefreshSummary>;
let handler: Handler;

function scheduledEvent(time: string): ScheduledEvent {
  return {
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time,
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/token-refresh'],
    detail: {},
  };
}

/** The EMF documents the handler printed (one per flush / single metric). */
function emf(): Record<string, unknown>[] {
  return output
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(() => {
  captureOutput(output);
  const logger = new Logger({ serviceName: 'token-refresh', logLevel: 'INFO' });
  const metrics = new Metrics({ namespace: 'SmartcarTest', serviceName: 'token-refresh' });
  handler = createRefreshHandler({
    job: createRefreshJob({
      tokens: { listDue },
      rotation: { rotate },
      config: { refreshWindowMs: 7 * DAY, accessWarmWindowMs: 0, concurrency: 10 },
      logger,
      metrics,
      clock: () => CLOCK,
    }),
    logger,
    metrics,
    clock: () => CLOCK,
  }) as unknown as Handler;
});

afterAll(() => {
  vi.restoreAllMocks();
});

beforeEach(() => {
  output.length = 0;
  listDue.mockClear();
  rotate.mockClear();
  dueGrants = [];
  outcomes = [];
});

describe('token refresh handler', () => {
  it("uses the scheduled event's time as now, answers the summary and emits it as metrics", async () => {
    const time = '2026-03-01T12:00:00Z';
    dueGrants = [1, 2, 3, 4, 5].map((i) => ({ grantId: `g${i}`, version: i }));
    outcomes = [
      { outcome: 'rotated' } as RotationResult,
      { outcome: 'rotated' } as RotationResult,
      { outcome: 'needs_reauth', reason: 'invalid_grant' },
      { outcome: 'failed', reason: 'smartcar_unavailable' },
      { outcome: 'skipped', reason: 'claimed_elsewhere' },
    ];
    const context = lambdaContext('token-refresh', 300_000);

    const summary = await handler(scheduledEvent(time), context);

    expect(summary).toEqual({ due: 5, refreshed: 2, skipped: 1, failed: 1, needsReauth: 1 });
    expect(Object.keys(summary)).toEqual(['due', 'refreshed', 'skipped', 'failed', 'needsReauth']);
    // Selection and every rotation decide on the event's time, not on the clock.
    expect(listDue).toHaveBeenCalledWith('refresh', Date.parse(time) + 7 * DAY);
    for (const call of rotate.mock.calls) {
      expect(call[0]).toMatchObject({ now: Date.parse(time), claimant: `job:${context.awsRequestId}` });
      // The invocation's end (clock + remaining time), minus what the summary needs.
      expect(call[0].endsAt).toBeGreaterThan(CLOCK + 290_000 - END_RESERVE_MS);
      expect(call[0].endsAt).toBeLessThanOrEqual(CLOCK + 300_000 - END_RESERVE_MS);
    }

    const documents = emf();
    const summaryDocument = documents.find((document) => 'TokenRefreshDue' in document);
    expect(summaryDocument).toMatchObject({
      service: 'token-refresh',
      TokenRefreshDue: 5,
      TokenRefreshRefreshed: 2,
      TokenRefreshSkipped: 1,
      TokenRefreshFailed: 1,
      TokenRefreshNeedsReauth: 1,
    });
    const directive = (
      summaryDocument?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] }
    ).CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('SmartcarTest');
    expect(directive?.Dimensions).toEqual([['service']]);

    const finished = output.find((chunk) => chunk.includes('Token refresh run finished'));
    expect(JSON.parse(finished ?? '{}')).toMatchObject({
      summary: { due: 5, refreshed: 2, skipped: 1, failed: 1, needsReauth: 1 },
      now: '2026-03-01T12:00:00.000Z',
    });
  });

  it('a missing or invalid time falls back to the clock', async () => {
    for (const event of [scheduledEvent('not a time'), {}, null]) {
      listDue.mockClear();
      await handler(event, lambdaContext('token-refresh', 300_000));
      expect(listDue).toHaveBeenCalledWith('refresh', CLOCK + 7 * DAY);
    }
    expect(output.join('')).toContain('Scheduled event without a valid time');
  });

  it('nothing due: a zero summary, still emitted', async () => {
    expect(
      await handler(scheduledEvent('2026-03-01T12:00:00Z'), lambdaContext('token-refresh', 300_000)),
    ).toEqual({
      due: 0,
      refreshed: 0,
      skipped: 0,
      failed: 0,
      needsReauth: 0,
    });
    expect(emf().find((document) => 'TokenRefreshDue' in document)).toMatchObject({ TokenRefreshDue: 0 });
  });

  it('a failing index query fails the invocation (Lambda errors, async retry) and is logged', async () => {
    listDue.mockRejectedValueOnce(new Error('DynamoDB unavailable'));
    await expect(
      handler(scheduledEvent('2026-03-01T12:00:00Z'), lambdaContext('token-refresh', 300_000)),
    ).rejects.toThrow('DynamoDB unavailable');
    expect(output.join('')).toContain('Token refresh run failed');
    expect(rotate).not.toHaveBeenCalled();
  });
});
