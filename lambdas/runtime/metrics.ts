import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';

/**
 * Counts a failure twice, on purpose: once with the default dimensions only (`service`), which is the metric
 * the on-call alarms watch (a metric with an extra dimension is a different CloudWatch metric), and once more
 * with a `reason` dimension as a single-metric EMF line, for dashboards that break failures down by cause.
 * `reason` must come from a closed set (never request data): it becomes a CloudWatch dimension value.
 */
export function countFailure(metrics: Metrics, name: string, reason: string): void {
  metrics.addMetric(name, MetricUnit.Count, 1);
  const byReason = metrics.singleMetric();
  byReason.addDimension('reason', reason);
  byReason.addMetric(name, MetricUnit.Count, 1);
}
