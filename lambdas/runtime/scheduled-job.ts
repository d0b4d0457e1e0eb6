import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';

/**
 * A scheduled job's handler: EventBridge's event → one run as of the event's `time` (a replay decides the same
 * way; local mode's `POST /local/jobs/<job>` sends `{ time }`), falling back to the clock. The summary is
 * answered, logged and emitted: one Count metric per field, named `<metricPrefix><Field>`. A failure of the
 * whole run fails the invocation (Lambda's Errors metric, which the job's alarm watches).
 */

export function scheduledTime(event: { readonly time?: unknown } | null | undefined): number | undefined {
  const time = event?.time;
  if (typeof time !== 'string') return undefined;
  const parsed = Date.parse(time);
  return Number.isNaN(parsed) ? undefined : parsed;
}

export function createScheduledJobHandler<S extends object>(options: {
  readonly run: (now: number) => Promise<S>;
  readonly metricPrefix: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock?: () => number;
}) {
  const { logger, metrics } = options;
  const clock = options.clock ?? Date.now;
  async function handle(event: { readonly time?: unknown } | null | undefined): Promise<S> {
    const fromEvent = scheduledTime(event);
    if (fromEvent === undefined) logger.warn('Scheduled event without a valid time: using the clock');
    let summary: S;
    try {
      summary = await options.run(fromEvent ?? clock());
    } catch (error) {
      logger.error('Scheduled run failed', { error: error as Error });
      throw error;
    }
    for (const [field, value] of Object.entries(summary)) {
      if (typeof value !== 'number') continue;
      metrics.addMetric(
        `${options.metricPrefix}${field.charAt(0).toUpperCase()}${field.slice(1)}`,
        MetricUnit.Count,
        value,
      );
    }
    logger.info('Scheduled run finished', { summary });
    return summary;
  }
  return middy(handle)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
