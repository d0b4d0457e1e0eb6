import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ProcessorConfig } from './config.js';
import { BatchMetrics } from './batch-metrics.js';
import { parseWebhook } from './parse.js';
import { UnprocessableEventError, type NormalizedEvent } from './event.js';
import { planEvent, type WriteIntent } from './plan.js';
import { applyIntents, type ApplySummary } from './apply.js';
import { dynamoVehicleWriter } from './store.js';

export interface ProcessorDeps {
  readonly config: ProcessorConfig;
  /** Vehicle state writes. */
  readonly documentClient: DynamoDBDocumentClient;
  /** Powertools Idempotency records (it speaks the low-level client). */
  readonly dynamoClient: DynamoDBClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Fixed prefix of idempotency keys. The default is the function name, which changes when CDK replaces the
 * function; a stable prefix keeps a redrive after a redeploy deduplicated.
 */
export const IDEMPOTENCY_KEY_PREFIX = 'smartcar-webhook';

interface ApplyRequest {
  readonly dedupeKey: string;
  readonly intents: WriteIntent[];
}

type ApplyResult =
  { readonly duplicate: false; readonly summary: ApplySummary } | { readonly duplicate: true };

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
}

/**
 * SQS → vehicle state. Each record: parse → plan → (once per dedupe key) conditional writes. A failing record
 * throws, so Powertools Batch reports only its messageId in `batchItemFailures`; it is retried and, if it keeps
 * failing, moved to the DLQ by the queue's redrive policy. Its batch-mates are unaffected.
 */
export function createProcessorHandler(deps: ProcessorDeps) {
  const { config, logger, metrics } = deps;
  const writer = dynamoVehicleWriter(deps.documentClient, config.VEHICLE_TABLE_NAME);

  const idempotencyConfig = new IdempotencyConfig({
    eventKeyJmesPath: 'dedupeKey',
    expiresAfterSeconds: config.DEDUPE_TTL_SECONDS,
    throwOnNoIdempotencyKey: true,
    // Runs only when a completed record for this key exists: the event was applied before.
    responseHook: () => ({ duplicate: true }),
  });
  const applyOnce = makeIdempotent(
    async (request: ApplyRequest): Promise<ApplyResult> => ({
      duplicate: false,
      summary: await applyIntents(writer, request.intents),
    }),
    {
      persistenceStore: new DynamoDBPersistenceLayer({
        tableName: config.IDEMPOTENCY_TABLE_NAME,
        awsSdkV3Client: deps.dynamoClient,
      }),
      config: idempotencyConfig,
      keyPrefix: IDEMPOTENCY_KEY_PREFIX,
    },
  );

  function reportFailure(
    error: unknown,
    fields: Record<string, unknown>,
    dimension: string | undefined,
    batch: BatchMetrics,
  ) {
    if (error instanceof UnprocessableEventError) {
      // Retried like any failure and then parked in the DLQ: an operator decides, nothing is silently dropped.
      batch.count(dimension, 'UnprocessableEvents');
      logger.error('Unprocessable webhook body; it will reach the DLQ', {
        ...fields,
        reason: error.message,
        ...error.details,
      });
    } else if (error instanceof Error && error.name === 'IdempotencyAlreadyInProgressError') {
      batch.count(dimension, 'EventsInProgressElsewhere');
      logger.warn('Same event is being applied by another invocation; retrying later', fields);
    } else {
      batch.count(dimension, 'ProcessingFailures');
      const message = isTransient(error)
        ? 'Transient failure; the message will be retried'
        : 'Processing failed';
      logger.error(message, { ...fields, error: error as Error });
    }
  }

  async function processRecord(record: SQSRecord, batch: BatchMetrics): Promise<void> {
    let event: NormalizedEvent;
    try {
      event = parseWebhook(record.body);
    } catch (error) {
      reportFailure(
        error,
        { messageId: record.messageId, deliveryId: record.messageAttributes?.deliveryId?.stringValue },
        undefined,
        batch,
      );
      throw error;
    }
    const fields = logFieldsOf(record, event);
    const dimension = dimensionOf(event);
    const plan = planEvent(event, {
      receivedAt: receivedAtOf(record),
      testEvents: config.TEST_EVENTS,
      rawEventTtlDays: config.RAW_EVENT_TTL_DAYS,
      resolvedErrorTtlSeconds: config.DEDUPE_TTL_SECONDS,
    });
    if (plan.action === 'ignore' || event.kind === 'verify') {
      // The receiver answers VERIFY itself; one here is harmless and has nothing to store.
      batch.count(dimension, 'EventsIgnored');
      logger.warn('Ignored an event with nothing to store', { ...fields, reason: 'verify' });
      return;
    }
    if (plan.action === 'skip-test') {
      batch.count(dimension, 'TestEventsSkipped');
      logger.info('TEST-mode event skipped (TEST_EVENTS=skip)', fields);
      return;
    }
    if (event.kind === 'vehicle-state' && event.unreadableSignals > 0) {
      batch.count(dimension, 'UnreadableSignals', event.unreadableSignals);
      logger.warn('Some signals could not be read and were skipped', {
        ...fields,
        unreadable: event.unreadableSignals,
      });
    }
    try {
      const result = await applyOnce({ dedupeKey: event.dedupeKey, intents: plan.intents });
      if (result.duplicate) {
        batch.count(dimension, 'DuplicateEvents');
        logger.info('Duplicate event skipped', fields);
        return;
      }
      recordSummaryMetrics(batch, dimension, result.summary);
      logger.info('Event applied', { ...fields, writes: result.summary });
    } catch (error) {
      reportFailure(error, fields, dimension, batch);
      throw error;
    }
  }

  async function handleBatch(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
    // The in-progress lock of an idempotency record expires with the invocation's remaining time.
    if (typeof context?.getRemainingTimeInMillis === 'function') {
      idempotencyConfig.registerLambdaContext(context);
    }
    metrics.captureColdStartMetric();
    const batch = new BatchMetrics();
    // One processor per invocation: it holds per-batch state, and local mode may run invocations concurrently.
    const processor = new BatchProcessor(EventType.SQS);
    try {
      return await processPartialResponse(
        event,
        (record: SQSRecord) => processRecord(record, batch),
        processor,
        { context },
      );
    } finally {
      batch.flush(metrics);
    }
  }

  // logEvent: false whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries the webhook bodies (signal
  // values, precise locations).
  return middy(handleBatch).use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }));
}
