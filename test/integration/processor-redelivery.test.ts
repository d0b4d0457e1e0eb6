import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { decodeState } from '../../lambdas/vehicles/vehicle-state.js';
import { lambdaContext } from '../support/api-gateway-events.js';
import { useDynamoDbLocal } from '../support/dynamodb-local.js';
import { sqsRecord } from '../support/sqs-events.js';
import { captureJson } from '../support/webhook-fixtures.js';
import { stateOfChargeEvent, withVehicle } from '../support/webhook-events.js';

/**
 * An invocation that dies in the middle of a batch (OOM, timeout, a host failure) and the redelivery of the
 * whole batch to a fresh container, against DynamoDB Local. Only the handler's public behaviour is used:
 * records in, stored vehicle state out, compared with what one clean delivery of the same records stores.
 */

const TABLES = { vehicleTable: 'redelivery-vehicles' };
/** What the dead invocation had left when it started. */
const INVOCATION_MS = 30_000;
/** SQS redelivers after the visibility timeout: 6 × the processor's 30 s timeout. */
const VISIBILITY_TIMEOUT_MS = 180_000;

const dynamo = useDynamoDbLocal({ tables: TABLES });
const logger = new Logger({ serviceName: 'redelivery', logLevel: 'SILENT' });

const message = (body: unknown, sentAt: number): SQSRecord => sqsRecord(body, { sentAt });
const redelivered = (record: SQSRecord): SQSRecord => ({
  ...record,
  attributes: { ...record.attributes, ApproximateReceiveCount: '2' },
});

/**
 * A container: its own clients, as a new Lambda execution environment has. `dieAfterWrites`: once the vehicle
 * table has taken that many writes, the process is gone: that call and every later one never return.
 */
function container(options: { readonly dieAfterWrites?: number } = {}) {
  const client = dynamo.newClient();
  let vehicleWrites = 0;
  let dead = false;
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { TableName?: string };
      if (!dead && input.TableName === TABLES.vehicleTable) {
        vehicleWrites += 1;
        if (options.dieAfterWrites !== undefined && vehicleWrites > options.dieAfterWrites) dead = true;
      }
      if (dead) return new Promise<never>(() => undefined);
      return next(args);
    },
    { step: 'initialize', name: 'processDeath' },
  );
  const handler = createProcessorHandler({
    config: loadProcessorConfig({ VEHICLE_TABLE_NAME: TABLES.vehicleTable }),
    documentClient: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    logger,
    metrics: new Metrics({ namespace: 'Redelivery', serviceName: 'redelivery' }),
  });
  return {
    invoke: (records: SQSRecord[]) =>
      handler(
        { Records: records },
        lambdaContext('webhook-processor', INVOCATION_MS),
      ) as Promise<SQSBatchResponse>,
    isDead: () => dead,
  };
}

type Ids = readonly [string, string, string];
const newIds = (): Ids => [randomUUID(), randomUUID(), randomUUID()];

/**
 * Everything stored for a vehicle, its own ids replaced so that two deliveries can be compared: the STATE item
 * decoded (its signals are compressed), without `recent`, whose keys are hashes of the (different) event ids.
 */
async function storedState(vehicleId: string, eventId: string): Promise<unknown[]> {
  const { Items = [] } = await dynamo.documentClient.send(
    new QueryCommand({
      TableName: TABLES.vehicleTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `VEHICLE#${vehicleId}` },
      ConsistentRead: true,
    }),
  );
  const readable = Items.map((item) => {
    if (item.sk !== 'STATE') return item;
    const { recent, ...state } = decodeState(item);
    return { pk: item.pk, sk: item.sk, ...state, recentEvents: Object.keys(recent).length };
  });
  return JSON.parse(
    JSON.stringify(readable).replaceAll(vehicleId, '<vehicle>').replaceAll(eventId, '<event>'),
  ) as unknown[];
}
const statesOf = (vehicles: Ids, events: Ids) =>
  Promise.all(vehicles.map((vehicleId, i) => storedState(vehicleId, events[i] ?? '')));

/** Three vehicles' events (one with a dozen writes): the same content for any vehicle and event ids. */
function batchFor(vehicles: Ids, events: Ids, sentAt: number) {
  return [
    message(stateOfChargeEvent(vehicles[0], { eventId: events[0], soc: 41 }), sentAt),
    message(withVehicle(captureJson('byd_seal_all.json'), vehicles[1], events[1]), sentAt),
    message(stateOfChargeEvent(vehicles[2], { eventId: events[2], soc: 77 }), sentAt),
  ];
}

beforeAll(async () => {
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

afterEach(() => {
  vi.useRealTimers();
});

describe('processor: an invocation that dies mid-batch, then the batch is redelivered', () => {
  it('stores exactly what one clean delivery stores; a further redelivery changes nothing', async () => {
    const sentAt = Date.now();
    // The reference: the same events for other vehicles, delivered once to a healthy container.
    const [cleanVehicles, cleanEvents] = [newIds(), newIds()];
    const reference = batchFor(cleanVehicles, cleanEvents, sentAt);
    expect(await container().invoke(reference)).toEqual({ batchItemFailures: [] });
    const expected = await statesOf(cleanVehicles, cleanEvents);

    const [vehicles, events] = [newIds(), newIds()];
    const records = batchFor(vehicles, events, sentAt);
    const dying = container({ dieAfterWrites: 5 });
    // Never settles: the process is gone. Nothing reports a failure; SQS just sees no answer.
    void dying.invoke(records);
    await vi.waitFor(() => expect(dying.isDead()).toBe(true));
    // The crash really left the batch half done.
    expect(await statesOf(vehicles, events)).not.toEqual(expected);

    // After the visibility timeout SQS hands the whole batch to a fresh container.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + VISIBILITY_TIMEOUT_MS });
    const retried = await container().invoke(records.map(redelivered));
    expect(retried).toEqual({ batchItemFailures: [] });
    expect(await statesOf(vehicles, events)).toEqual(expected);

    // A duplicate delivery of the batch (standard queues deliver at least once) changes nothing.
    expect(await container().invoke(records.map(redelivered))).toEqual({ batchItemFailures: [] });
    expect(await statesOf(vehicles, events)).toEqual(expected);
  });

  it('a redelivery before the dead invocation could have ended applies the batch at once, as one clean delivery', async () => {
    const sentAt = Date.now();
    const [vehicles, events] = [newIds(), newIds()];
    const records = batchFor(vehicles, events, sentAt);
    const dying = container({ dieAfterWrites: 5 });
    void dying.invoke(records);
    await vi.waitFor(() => expect(dying.isDead()).toBe(true));

    // No lock is held by the dead invocation: its half-applied state is merged into, never waited for.
    expect(await container().invoke(records.map(redelivered))).toEqual({ batchItemFailures: [] });

    const [cleanVehicles, cleanEvents] = [newIds(), newIds()];
    expect(await container().invoke(batchFor(cleanVehicles, cleanEvents, sentAt))).toEqual({
      batchItemFailures: [],
    });
    expect(await statesOf(vehicles, events)).toEqual(await statesOf(cleanVehicles, cleanEvents));
  });
});
