import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { RefreshJob, RefreshSummary } from './refresh-job.js';

/** The scheduled event, as far as the job reads it (local mode may send just `{ time }`, or nothing). */
export interface RefreshEvent {
  readonly time?: unknown;
}

/** `time` of the event when it is a valid ISO-8601 instant, else undefined. */
export function eventTime(event: RefreshEvent | null | undefined): number | undefined {
  const time = event?.time;
  if (typeof time !== 'string') return undefined;
  const parsed = Date.parse(time);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/** Used when the context gives no remaining time (a caller without a Lambda context). */
const DEFAULT_RUN_MS = 60_000;

export interface RefreshHandlerDeps {
  readonly job: RefreshJob;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock?: () => number;
}

/**
 * EventBridge schedule → one run. "Now" is the event's `time`, so a run (and a replay of its event) decides
 * the same way; a missing or invalid `time` falls back to the clock. Answers the summary. A failure to read the
 * index fails the invocation (Lambda's Errors metric); individual grant failures never do.
 */
export function createRefreshHandler(deps: RefreshHandlerDeps) {
  const { logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;

  async function handle(event: RefreshEvent | null | undefined, context: Context): Promise<RefreshSummary> {
    const startedAt = clock();
    const fromEvent = eventTime(event);
    if (fromEvent === undefined) logger.warn('Scheduled event without a valid time: using the clock');
    const remaining =
      typeof context?.getRemainingTimeInMillis === 'function'
        ? context.getRemainingTimeInMillis()
        : DEFAULT_RUN_MS;
    try {
      return await deps.job.run({
        now: fromEvent ?? startedAt,
        endsAt: startedAt + remaining,
        runId: context?.awsRequestId ?? `run-${startedAt}`,
      });
    } catch (error) {
      logger.error('Token refresh run failed', { error: error as Error });
      throw error;
    }
  }

  return middy(handle)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics));
}
