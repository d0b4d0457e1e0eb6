import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse } from 'aws-lambda';
import { startDynamoDbLocal } from '../local/stand-ins/dynamodb-local.js';
import { ensureTables } from '../local/stand-ins/dynamodb-tables.js';
import { loadProcessorConfig } from '../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../lambdas/webhook-processor/create-handler.js';
import { meterDynamo } from './dynamo-meter.js';
import { signalSpecs, vehicleStateEvent } from './events.js';
import { lambdaContext } from '../test/support/api-gateway-events.js';
import { sqsRecord } from '../test/support/sqs-events.js';
import { freePort } from '../test/support/ports.js';
import { check, discard, interleave, median, withStdoutTo, type Check } from './stats.js';

/**
 * The real processor handler (its factory, as the stack builds it) against DynamoDB Local: DynamoDB requests and
 * consumed write units per VEHICLE_STATE event, and events/s against the same number of requests issued directly
 * as plain small `PutItem`s, 10 in flight (what the requests alone cost, without the processor around them).
 */

const TABLES = { vehicleTable: 'bench-vehicles' };
const BATCH_SIZE = 10;
/** The processor's memory in the stack (local/runtime/functions.ts mirrors lib/). */
export const PROCESSOR_MEMORY_MB = 512;

export interface SignalCountFigures {
  readonly signals: number;
  readonly requestsPerEvent: number;
  readonly requestsByCommand: Record<string, number>;
  readonly writeUnitsPerEvent: number;
  readonly eventsPerSecond: number;
  readonly plainPutEventsPerSecond: number;
  /** processor events/s ÷ (events/s of issuing the same number of plain PutItems), same interleaved rounds. */
  readonly ratio: number;
  /** Plain PutItems per second, 10 in flight: what this machine's DynamoDB Local sustains. */
  readonly plainPutsPerSecond: number;
  /**
   * The design this one replaced: one conditional UpdateItem per signal plus a PutItem and an UpdateItem of an
   * idempotency record, N + 3 requests per event (it ran at 0.86× of its requests as plain PutItems).
   */
  readonly previousDesignRequestsPerEvent: number;
  /** events/s ÷ (plain PutItems/s ÷ (N + 3)): how many times the previous design's ceiling on this machine. */
  readonly vsPreviousDesignCeiling: number;
  /** Median wall time of one batch of 10 events (the cost model bills it). */
  readonly batchMs: number;
}

export interface ProcessorFigures {
  readonly eventsPerRound: number;
  readonly rounds: number;
  readonly bySignals: SignalCountFigures[];
  readonly checks: Check[];
}

export async function benchProcessor(options: {
  signalCounts: readonly number[];
  eventsPerRound: number;
  rounds: number;
}): Promise<ProcessorFigures> {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const dynamoClient = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const checks: Check[] = [];
  try {
    await ensureTables(dynamoClient, TABLES);
    const meter = meterDynamo(dynamoClient);
    const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
      marshallOptions: { removeUndefinedValues: true },
    });
    const handler = createProcessorHandler({
      config: loadProcessorConfig({
        VEHICLE_TABLE_NAME: TABLES.vehicleTable,
      }),
      documentClient,
      logger: new Logger({ serviceName: 'webhook-processor', logLevel: 'INFO' }),
      metrics: new Metrics({ serviceName: 'webhook-processor', namespace: 'Bench' }),
    });
    const bySignals: SignalCountFigures[] = [];
    for (const signals of options.signalCounts) {
      const specs = signalSpecs(signals);
      let at = 1_700_000_000_000;
      const bodies = (count: number) => {
        // As many vehicles as a batch holds: every batch carries one event per vehicle (the processor cannot
        // group two events of a vehicle into one write), and each vehicle gets an event in every batch after
        // its first (the steady state: its state item exists), which is what a fleet's traffic looks like.
        const vehicles = Array.from({ length: BATCH_SIZE }, () => randomUUID());
        return Array.from({ length: count }, (_, i) =>
          JSON.stringify(
            vehicleStateEvent({
              vehicleId: vehicles[i % vehicles.length] ?? randomUUID(),
              signals: specs,
              value: i,
              at: (at += 1000),
            }),
          ),
        );
      };
      const processorRound = async () => {
        const events = bodies(options.eventsPerRound);
        meter.reset();
        const batchTimes: number[] = [];
        const t0 = performance.now();
        let failures = 0;
        for (let i = 0; i < events.length; i += BATCH_SIZE) {
          const records = events.slice(i, i + BATCH_SIZE).map((body) => sqsRecord(body));
          const b0 = performance.now();
          const response = (await handler(
            { Records: records },
            { ...lambdaContext('webhook-processor', 30_000), memoryLimitInMB: String(PROCESSOR_MEMORY_MB) },
          )) as SQSBatchResponse | undefined;
          batchTimes.push(performance.now() - b0);
          failures += response?.batchItemFailures.length ?? 0;
        }
        const seconds = (performance.now() - t0) / 1000;
        return {
          eventsPerSecond: events.length / seconds,
          requestsPerEvent: meter.requests / events.length,
          byCommand: { ...meter.byCommand },
          writeUnitsPerEvent: meter.writeUnits / events.length,
          batchMs: median(batchTimes),
          failures,
        };
      };
      // The same number of requests the processor made, as plain PutItems, 10 in flight (one batch's worth).
      let requestsPerEvent = signals + 3;
      const plainRound = async () => {
        const puts = bodies(options.eventsPerRound).flatMap((body) =>
          Array.from({ length: Math.round(requestsPerEvent) }, () => body),
        );
        meter.reset();
        const t0 = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < puts.length) {
            const body = puts[next++] ?? '';
            await dynamoClient.send(
              new PutItemCommand({
                TableName: TABLES.vehicleTable,
                Item: {
                  pk: { S: `PLAIN#${randomUUID()}` },
                  sk: { S: 'EVENT' },
                  body: { S: body.slice(0, 200) },
                },
              }),
            );
          }
        };
        await Promise.all(Array.from({ length: BATCH_SIZE }, worker));
        const seconds = (performance.now() - t0) / 1000;
        return { eventsPerSecond: options.eventsPerRound / seconds, putsPerSecond: puts.length / seconds };
      };
      const runs = await withStdoutTo(discard, async () => {
        // Warm-up (connections, JIT, the tables' first writes); it also tells the baseline how many requests to issue.
        requestsPerEvent = (await processorRound()).requestsPerEvent;
        return interleave({ processor: processorRound, plain: plainRound }, options.rounds);
      });
      const failures = runs.processor.reduce((sum, run) => sum + run.failures, 0);
      checks.push(
        check(
          `processor applies every ${signals}-signal event (no batch item failures)`,
          failures === 0,
          `${failures} failed`,
        ),
      );
      const eventsPerSecond = median(runs.processor.map((run) => run.eventsPerSecond));
      const plainPerSecond = median(runs.plain.map((run) => run.eventsPerSecond));
      const plainPutsPerSecond = median(runs.plain.map((run) => run.putsPerSecond));
      const previousDesignRequestsPerEvent = signals + 3;
      bySignals.push({
        signals,
        requestsPerEvent: median(runs.processor.map((run) => run.requestsPerEvent)),
        requestsByCommand: runs.processor[0]?.byCommand ?? {},
        writeUnitsPerEvent: median(runs.processor.map((run) => run.writeUnitsPerEvent)),
        eventsPerSecond,
        plainPutEventsPerSecond: plainPerSecond,
        ratio: eventsPerSecond / plainPerSecond,
        plainPutsPerSecond,
        previousDesignRequestsPerEvent,
        vsPreviousDesignCeiling: eventsPerSecond / (plainPutsPerSecond / previousDesignRequestsPerEvent),
        batchMs: median(runs.processor.map((run) => run.batchMs)),
      });
    }
    return { eventsPerRound: options.eventsPerRound, rounds: options.rounds, bySignals, checks };
  } finally {
    dynamoClient.destroy();
    await dynamo.stop();
  }
}
