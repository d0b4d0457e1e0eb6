import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { observedSignals, type ObservedSignal } from '../commands/command-confirmation.js';
import { settleWithConcurrency } from '../runtime/concurrency.js';
import type { ProcessorConfig } from './config.js';
import { BatchMetrics } from './batch-metrics.js';
import { parseWebhook } from './parse.js';
import { UnprocessableEventError, type NormalizedEvent } from './event.js';
import { planEvent, type RawEventWrite, type WriteIntent } from './plan.js';
import { applyRawEvents, applyToVehicle, type ApplySummary } from './apply.js';
import { emptySummary, recentEventId } from './merge.js';
import { assertStorable } from './storable.js';
import { dynamoVehicleStore, type VehicleStore } from './store.js';

export interface ProcessorDeps {
  readonly config: ProcessorConfig;
  /** The vehicle state table (vehicle state, raw events and the quarantine). */
  readonly documentClient: DynamoDBDocumentClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Replaces the DynamoDB adapter (tests). */
  readonly store?: VehicleStore;
  /**
   * Confirms sent vehicle commands from the lock/charging state an event reports (lambdas/commands/
   * command-confirmation.ts); absent when no command audit table is configured.
   */
  readonly confirmCommands?: (vehicleId: string, observed: readonly ObservedSignal[]) => Promise<number>;
}

/** How long a quarantined body is kept: as long as the DLQ keeps a message, for the same operator routine. */
export const QUARANTINE_TTL_SECONDS = 14 * 86_400;

/** Vehicles of one batch applied at once; the records of one vehicle are merged into one write. */
export const VEHICLE_CONCURRENCY = 10;

/** The receiver queued the message at SentTimestamp; it does not change when SQS redelivers it. */
function receivedAtOf(record: SQSRecord): number {
  const sent = Number(record.attributes?.SentTimestamp);
  return Number.isFinite(sent) && sent > 0 ? sent : Date.now();
}

const MAX_LOGGED_VEHICLE_IDS = 10;

/** What may be logged about an event: identifiers and counts, never signal values, locations or tokens. */
function logFieldsOf(record: SQSRecord, event: NormalizedEvent): Record<string, unknown> {
  const base = {
    messageId: record.messageId,
    // The correlation id the receiver logged for this delivery attempt (SQS message attribute).
    deliveryId: record.messageAttributes?.deliveryId?.stringValue,
    receiveCount: record.attributes?.ApproximateReceiveCount,
    eventType: event.eventType,
  };
  switch (event.kind) {
    case 'verify':
      return base;
    case 'raw':
      // A v2 payload can name a whole fleet: log the count, and the ids only while the line stays small.
      return {
        ...base,
        eventId: event.eventId,
        mode: event.mode,
        format: event.format,
        vehicles: event.vehicleIds.length,
        ...(event.vehicleIds.length <= MAX_LOGGED_VEHICLE_IDS && { vehicleIds: event.vehicleIds }),
      };
    case 'vehicle-state':
      return {
        ...base,
        eventId: event.eventId,
        mode: event.mode,
        vehicleId: event.vehicle.id,
        signals: event.signals.length,
        triggers: event.triggers.length,
      };
    case 'vehicle-error':
      return {
        ...base,
        eventId: event.eventId,
        mode: event.mode,
        vehicleId: event.vehicle.id,
        errors: event.errors.length,
      };
  }
}

/** The metric dimension: v2 event names (eventBased, schedule, …) are grouped as V2. */
function dimensionOf(event: NormalizedEvent): string {
  return event.kind === 'raw' && event.format === 'v2' ? 'V2' : event.eventType;
}

/** Throttling, 5xx and network errors: DynamoDB will probably take the write on a later attempt. */
function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { $retryable?: unknown; $fault?: unknown; name?: unknown };
  return (
    candidate.$retryable !== undefined ||
    candidate.$fault === 'server' ||
    candidate.name === 'ProvisionedThroughputExceededException' ||
    candidate.name === 'ThrottlingException' ||
    candidate.name === 'RequestLimitExceeded' ||
    candidate.name === 'TimeoutError'
  );
}

function recordSummaryMetrics(batch: BatchMetrics, dimension: string, summary: ApplySummary): void {
  batch.count(dimension, 'EventsProcessed');
  batch.count(dimension, 'SignalsWritten', summary['signal-value'].written);
  batch.count(dimension, 'SignalErrorsRecorded', summary['signal-error'].written);
  batch.count(
    dimension,
    'StaleSignalsSkipped',
    summary['signal-value'].stale + summary['signal-error'].stale,
  );
  batch.count(dimension, 'VehicleErrorsWritten', summary['vehicle-error'].written);
  batch.count(dimension, 'RawEventsStored', summary['raw-event'].written);
  const written = Object.values(summary).reduce((sum, kind) => sum + kind.written, 0);
  if (written === 0) batch.count(dimension, 'EventsWithoutChange');
}

/** A DynamoDB rejection that no retry can change (item too large, nesting or key limits, …). */
function isPermanentRejection(error: unknown): boolean {
  return error instanceof Error && error.name === 'ValidationException';
}

/** A record that is parsed, planned and checked, ready to be applied. */
interface Prepared {
  readonly record: SQSRecord;
  readonly event: NormalizedEvent;
  readonly fields: Record<string, unknown>;
  readonly dimension: string;
  /** The vehicle partition of VEHICLE_STATE / VEHICLE_ERROR changes. */
  readonly pk?: string;
  readonly dedupeKey: string;
  readonly changes: WriteIntent[];
  readonly raw: RawEventWrite[];
}

type Outcome =
  | { readonly summary: ApplySummary; readonly duplicate?: boolean; readonly quarantined?: boolean }
  | { readonly error: unknown };

/**
 * SQS → vehicle state. Each record: parse → plan (pure) → apply; the records of one vehicle are applied
 * together in one read-merge-write of its state item. A record that can never be stored is quarantined on its
 * first attempt and acknowledged; any other failure reports its messageId in `batchItemFailures`, so it is retried
 * and, if it keeps failing, moved to the DLQ by the queue's redrive policy. Its batch-mates are unaffected.
 */
export function createProcessorHandler(deps: ProcessorDeps) {
  const { config, logger, metrics } = deps;
  const store = deps.store ?? dynamoVehicleStore(deps.documentClient, config.VEHICLE_TABLE_NAME);

  function reportFailure(
    error: unknown,
    fields: Record<string, unknown>,
    dimension: string,
    batch: BatchMetrics,
  ) {
    batch.count(dimension, 'ProcessingFailures');
    const message = isTransient(error)
      ? 'Transient failure; the message will be retried'
      : 'Processing failed';
    logger.error(message, { ...fields, error: error as Error });
  }

  /** Stores a poison message once (raw body, reason, TTL) and acknowledges it; throws only if that fails. */
  async function quarantine(
    record: SQSRecord,
    error: UnprocessableEventError,
    fields: Record<string, unknown>,
    dimension: string | undefined,
    batch: BatchMetrics,
  ): Promise<void> {
    const receivedAt = receivedAtOf(record);
    const stored = await store.quarantine({
      messageId: record.messageId,
      receivedAt,
      raw: record.body,
      reason: error.message,
      details: error.details,
      expiresAt: Math.floor(receivedAt / 1000) + QUARANTINE_TTL_SECONDS,
    });
    if (stored === 'stored') batch.count(dimension, 'EventsQuarantined');
    // Logged without the body: it may hold locations; the quarantine item keeps it, encrypted at rest.
    logger.error('Unprocessable webhook body quarantined', {
      ...fields,
      reason: error.message,
      ...error.details,
      ...(stored === 'exists' && { alreadyQuarantined: true }),
    });
  }

  /** parse → plan → storable check. Undefined when there is nothing to apply (VERIFY, TEST with skip). */
  function prepare(record: SQSRecord, batch: BatchMetrics): Prepared | undefined {
    const event = parseWebhook(record.body);
    const fields = logFieldsOf(record, event);
    const dimension = dimensionOf(event);
    const receivedAt = receivedAtOf(record);
    const plan = planEvent(event, {
      receivedAt,
      testEvents: config.TEST_EVENTS,
      rawEventTtlDays: config.RAW_EVENT_TTL_DAYS,
      resolvedErrorTtlSeconds: config.DEDUPE_TTL_SECONDS,
    });
    if (plan.action === 'ignore' || event.kind === 'verify') {
      // The receiver answers VERIFY itself; one here is harmless and has nothing to store.
      batch.count(dimension, 'EventsIgnored');
      logger.warn('Ignored an event with nothing to store', { ...fields, reason: 'verify' });
      return undefined;
    }
    if (plan.action === 'skip-test') {
      batch.count(dimension, 'TestEventsSkipped');
      logger.info('TEST-mode event skipped (TEST_EVENTS=skip)', fields);
      return undefined;
    }
    assertStorable(plan.intents);
    if (event.kind === 'vehicle-state' && event.unreadableSignals > 0) {
      batch.count(dimension, 'UnreadableSignals', event.unreadableSignals);
      logger.warn('Some signals could not be read and were skipped', {
        ...fields,
        unreadable: event.unreadableSignals,
      });
    }
    if (plan.insaneTimestamps > 0) {
      batch.count(dimension, 'InsaneTimestamps', plan.insaneTimestamps);
      logger.warn('Timestamps outside the sane window were treated as missing', {
        ...fields,
        insane: plan.insaneTimestamps,
      });
    }
    const raw = plan.intents.filter((intent): intent is RawEventWrite => intent.kind === 'raw-event');
    const changes = plan.intents.filter((intent) => intent.kind !== 'raw-event');
    return {
      record,
      event,
      fields,
      dimension,
      dedupeKey: event.dedupeKey,
      ...(changes[0] !== undefined && { pk: changes[0].pk }),
      changes,
      raw,
    };
  }

  /**
   * One vehicle's records in one merge. If DynamoDB rejects the merged item for good, each record is tried
   * alone so only the one that cannot be stored is quarantined.
   */
  async function applyVehicleGroup(
    pk: string,
    group: readonly Prepared[],
    now: number,
    batch: BatchMetrics,
    outcomes: Map<Prepared, Outcome>,
  ): Promise<void> {
    try {
      const result = await applyToVehicle(
        store,
        pk,
        group.map((prepared) => ({
          id: recentEventId(prepared.dedupeKey),
          receivedAt: receivedAtOf(prepared.record),
          changes: prepared.changes,
        })),
        now,
      );
      batch.count(group[0]?.dimension, 'StateWriteConflicts', result.conflicts);
      group.forEach((prepared, index) => {
        const summary = result.summaries[index];
        if (summary !== undefined) {
          outcomes.set(prepared, { summary, duplicate: result.duplicates[index] === true });
        }
      });
    } catch (error) {
      if (!isPermanentRejection(error)) {
        for (const prepared of group) outcomes.set(prepared, { error });
        return;
      }
      if (group.length > 1) {
        for (const prepared of group) await applyVehicleGroup(pk, [prepared], now, batch, outcomes);
        return;
      }
      const [only] = group;
      if (only === undefined) return;
      const poison = new UnprocessableEventError('DynamoDB rejected the change for good', {
        rejection: (error as Error).message.slice(0, 200),
      });
      try {
        await quarantine(only.record, poison, only.fields, only.dimension, batch);
        outcomes.set(only, { summary: emptySummary(), quarantined: true });
      } catch (quarantineError) {
        outcomes.set(only, { error: quarantineError });
      }
    }
  }

  /** Commands this live VEHICLE_STATE confirms (0 without lock/charging signals), or the error that stopped it. */
  async function confirmFrom(event: NormalizedEvent): Promise<number | Error> {
    if (!deps.confirmCommands || event.kind !== 'vehicle-state' || event.mode !== 'live') return 0;
    const observed = observedSignals(event.signals);
    if (observed.length === 0) return 0;
    try {
      return await deps.confirmCommands(event.vehicle.id, observed);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async function handleBatch(event: SQSEvent): Promise<SQSBatchResponse> {
    metrics.captureColdStartMetric();
    const batch = new BatchMetrics();
    const failed = new Set<string>();
    const outcomes = new Map<Prepared, Outcome>();
    const byVehicle = new Map<string, Prepared[]>();
    const rawOnly: Prepared[] = [];
    let now = 0;
    try {
      for (const record of event.Records) {
        now = Math.max(now, receivedAtOf(record));
        try {
          const prepared = prepare(record, batch);
          if (prepared === undefined) continue;
          if (prepared.pk !== undefined) {
            byVehicle.set(prepared.pk, [...(byVehicle.get(prepared.pk) ?? []), prepared]);
          } else {
            rawOnly.push(prepared);
          }
        } catch (error) {
          if (!(error instanceof UnprocessableEventError)) throw error;
          try {
            const ids = {
              messageId: record.messageId,
              deliveryId: record.messageAttributes?.deliveryId?.stringValue,
            };
            await quarantine(record, error, ids, undefined, batch);
          } catch (quarantineError) {
            reportFailure(
              quarantineError,
              { messageId: record.messageId, deliveryId: record.messageAttributes?.deliveryId?.stringValue },
              'UNPARSEABLE',
              batch,
            );
            failed.add(record.messageId);
          }
        }
      }
      await settleWithConcurrency([...byVehicle], VEHICLE_CONCURRENCY, ([pk, group]) =>
        applyVehicleGroup(pk, group, now, batch, outcomes),
      );
      await settleWithConcurrency(rawOnly, VEHICLE_CONCURRENCY, async (prepared) => {
        try {
          outcomes.set(prepared, { summary: await applyRawEvents(store, prepared.raw) });
        } catch (error) {
          outcomes.set(prepared, { error });
        }
      });
      for (const [prepared, outcome] of outcomes) {
        if ('error' in outcome) {
          reportFailure(outcome.error, prepared.fields, prepared.dimension, batch);
          failed.add(prepared.record.messageId);
          continue;
        }
        if (outcome.quarantined === true) continue;
        // Also for a duplicate: a failure here fails the record, and its retry finds the event already applied.
        const confirmed = await confirmFrom(prepared.event);
        if (confirmed instanceof Error) {
          reportFailure(confirmed, prepared.fields, prepared.dimension, batch);
          failed.add(prepared.record.messageId);
          continue;
        }
        batch.count(prepared.dimension, 'CommandsConfirmed', confirmed);
        if (outcome.duplicate === true) {
          batch.count(prepared.dimension, 'DuplicateEvents');
          logger.info('Duplicate event skipped', prepared.fields);
          continue;
        }
        recordSummaryMetrics(batch, prepared.dimension, outcome.summary);
        logger.info('Event applied', { ...prepared.fields, writes: outcome.summary });
      }
    } finally {
      batch.flush(metrics);
    }
    if (event.Records.length > 0 && failed.size === event.Records.length) {
      // Like Powertools Batch: when nothing succeeded, fail the invocation so the whole batch is retried.
      throw new Error(`All ${failed.size} records of the batch failed`);
    }
    return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
  }

  // logEvent: false whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries the webhook bodies (signal
  // values, precise locations).
  return middy(handleBatch).use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }));
}
