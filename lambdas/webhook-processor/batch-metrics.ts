import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';

/** The metric names this processor emits (EMF, namespace from POWERTOOLS_METRICS_NAMESPACE). */
export type ProcessorMetric =
  | 'EventsProcessed'
  | 'EventsWithoutChange'
  | 'DuplicateEvents'
  | 'EventsIgnored'
  | 'TestEventsSkipped'
  | 'SignalsWritten'
  | 'SignalErrorsRecorded'
  | 'StaleSignalsSkipped'
  | 'UnreadableSignals'
  | 'VehicleErrorsWritten'
  | 'RawEventsStored'
  | 'EventsQuarantined'
  | 'InsaneTimestamps'
  | 'StateWriteConflicts'
  | 'ProcessingFailures'
  | 'CommandsConfirmed';

/** Event types become a dimension; anything outside this set is folded into OTHER to bound cardinality. */
const KNOWN_EVENT_TYPES = new Set(['VEHICLE_STATE', 'VEHICLE_ERROR', 'VERIFY', 'V2', 'UNPARSEABLE']);

export function eventTypeDimension(eventType: string | undefined): string {
  if (eventType === undefined) return 'UNPARSEABLE';
  return KNOWN_EVENT_TYPES.has(eventType) ? eventType : 'OTHER';
}

/**
 * Counts per event type for one invocation. Records of a batch run concurrently and Powertools dimensions are
 * per flush, so counts are gathered here and flushed once per event type (one EMF line each) at the end.
 */
/**
 * Also written once more with the service dimension only: what the on-call alarm watches (a CloudWatch metric is
 * identified by its whole dimension set, so the per-event-type counts could not be alarmed on as one).
 */
const SERVICE_TOTALS: ReadonlySet<ProcessorMetric> = new Set(['EventsQuarantined']);

export class BatchMetrics {
  readonly #counts = new Map<string, Map<ProcessorMetric, number>>();
  readonly #totals = new Map<ProcessorMetric, number>();

  count(eventType: string | undefined, metric: ProcessorMetric, value = 1): void {
    if (value <= 0) return;
    if (SERVICE_TOTALS.has(metric)) this.#totals.set(metric, (this.#totals.get(metric) ?? 0) + value);
    const dimension = eventTypeDimension(eventType);
    const counts = this.#counts.get(dimension) ?? new Map<ProcessorMetric, number>();
    counts.set(metric, (counts.get(metric) ?? 0) + value);
    this.#counts.set(dimension, counts);
  }

  /** A snapshot, for tests and for the end-of-batch log line. */
  toJSON(): Record<string, Partial<Record<ProcessorMetric, number>>> {
    return Object.fromEntries([...this.#counts].map(([type, counts]) => [type, Object.fromEntries(counts)]));
  }

  flush(metrics: Metrics): void {
    for (const [eventType, counts] of this.#counts) {
      metrics.addDimension('eventType', eventType);
      for (const [metric, value] of counts) metrics.addMetric(metric, MetricUnit.Count, value);
      metrics.publishStoredMetrics();
    }
    if (this.#totals.size > 0) {
      for (const [metric, value] of this.#totals) metrics.addMetric(metric, MetricUnit.Count, value);
      metrics.publishStoredMetrics();
    }
    this.#counts.clear();
    this.#totals.clear();
  }
}
