import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSRecord,
} from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { dynamoVehicleItems } from '../../lambdas/vehicle-read/store.js';
import { createVehicleReadHandler } from '../../lambdas/vehicle-read/create-handler.js';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { httpEvent, lambdaContext } from '../support/api-gateway-events.js';
import { useDynamoDbLocal } from '../support/dynamodb-local.js';
import { sqsRecord } from '../support/sqs-events.js';
import { captureJson } from '../support/webhook-fixtures.js';
import {
  authenticationFailedError,
  stateOfChargeEvent,
  stateOfChargeSignal,
  vehicleErrorEvent,
  vehicleStateEvent,
  withVehicle,
} from '../support/webhook-events.js';
import { decodeState, type VehicleState } from '../../lambdas/vehicles/vehicle-state.js';

/**
 * The processor and the read Lambda against a real DynamoDB Local: versioned and conditional writes
 * and the read queries run for real. Each test uses its own vehicle ids, so tests do not see each other.
 */

const TABLES = { vehicleTable: 'vehicle-state' };
/**
 * Event times: ten hours ago, so every `T + offset` below is sane (the processor treats pre-2000 and far-future
 * timestamps as missing) and a RESOLVED tombstone has not expired yet.
 */
const T = Math.floor(Date.now() / 1000) * 1000 - 36_000_000;

const dynamo = useDynamoDbLocal({ tables: TABLES, removeUndefinedValues: true });
let process_: (records: SQSRecord[]) => Promise<SQSBatchResponse>;
let read: (vehicleId: string, mode?: string) => Promise<{ status: number; body: Record<string, unknown> }>;

const logger = new Logger({ serviceName: 'integration', logLevel: 'SILENT' });

/** A fresh invocation with 30 s ahead of it. */
const context = (): Context => lambdaContext('fn', 30_000);

const record = (body: unknown, sentAt = Date.now()): SQSRecord => sqsRecord(body, { sentAt });

function readEvent(vehicleId: string, mode?: string): APIGatewayProxyEventV2 {
  return httpEvent({
    routeKey: 'GET /vehicles/{vehicleId}',
    pathParameters: { vehicleId },
    ...(mode && { query: { mode } }),
  });
}

const stateEvent = stateOfChargeEvent;

/** The state of charge could not be read this time. */
const socErrorEvent = (vehicleId: string, deliveredAt: number, eventId?: string) =>
  vehicleStateEvent(
    vehicleId,
    [stateOfChargeSignal({ status: { value: 'ERROR', error: { type: 'UPSTREAM', code: 'NO_RESPONSE' } } })],
    { eventId, deliveredAt },
  );

const errorEvent = (vehicleId: string, state: 'ERROR' | 'RESOLVED', deliveredAt: number, eventId?: string) =>
  vehicleErrorEvent(
    vehicleId,
    [
      authenticationFailedError(state, {
        description: 'Smartcar was unable to authenticate with the connected services account.',
        signals: [],
      }),
    ],
    { eventId, deliveredAt },
  );

async function stored(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await dynamo.documentClient.send(
    new GetCommand({ TableName: TABLES.vehicleTable, Key: { pk, sk }, ConsistentRead: true }),
  );
  return Item;
}

/** The vehicle's state item, decoded. */
async function storedState(vehicleId: string): Promise<VehicleState> {
  return decodeState(await stored(`VEHICLE#${vehicleId}`, 'STATE'));
}

const SOC = 'tractionbattery-stateofcharge';
const AUTH_ERROR = 'CONNECTED_SERVICES_ACCOUNT#AUTHENTICATION_FAILED';

async function socOf(vehicleId: string): Promise<unknown> {
  const { body } = await read(vehicleId);
  const signals = body.signals as Record<string, { body: { value: number } }>;
  return signals['tractionbattery-stateofcharge']?.body.value;
}

beforeAll(async () => {
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const handlerFor = (testEvents: 'separate' | 'skip') =>
    createProcessorHandler({
      config: loadProcessorConfig({
        VEHICLE_TABLE_NAME: TABLES.vehicleTable,
        TEST_EVENTS: testEvents,
      }),
      documentClient: dynamo.documentClient,
      logger,
      metrics: new Metrics({ namespace: 'Integration', serviceName: 'integration' }),
    });
  const processor = handlerFor('separate');
  process_ = (records) => processor({ Records: records }, context());
  skipProcessor = handlerFor('skip');

  const reader = createVehicleReadHandler({
    items: dynamoVehicleItems(dynamo.documentClient, TABLES.vehicleTable),
    logger,
  });
  read = async (vehicleId, mode) => {
    const response = (await reader(
      readEvent(vehicleId, mode),
      context(),
    )) as APIGatewayProxyStructuredResultV2;
    return {
      status: Number(response.statusCode),
      body: JSON.parse(String(response.body)) as Record<string, unknown>,
    };
  };
});

let skipProcessor: ReturnType<typeof createProcessorHandler>;

describe('vehicle store on DynamoDB Local', () => {
  it('out of order: the newest value is kept whichever arrives last', async () => {
    const vehicleId = randomUUID();
    await process_([record(stateEvent(vehicleId, { soc: 80, oemUpdatedAt: T + 2_000_000 }))]);
    await process_([record(stateEvent(vehicleId, { soc: 60, oemUpdatedAt: T + 1_000_000 }))]);
    expect(await socOf(vehicleId)).toBe(80);

    await process_([record(stateEvent(vehicleId, { soc: 90, oemUpdatedAt: T + 3_000_000 }))]);
    expect(await socOf(vehicleId)).toBe(90);
    const { signals } = await storedState(vehicleId);
    expect(signals[SOC]).toMatchObject({ oemUpdatedAt: T + 3_000_000, retrievedAt: T + 3_000_100 });
  });

  it('a signal error keeps the last good value; a later good value clears the error', async () => {
    const vehicleId = randomUUID();
    await process_([record(stateEvent(vehicleId, { soc: 42, oemUpdatedAt: T + 1_000_000 }))]);
    await process_([record(socErrorEvent(vehicleId, T + 5_000_000))]);

    const { body } = await read(vehicleId);
    expect((body.signals as Record<string, unknown>)['tractionbattery-stateofcharge']).toEqual({
      body: { value: 42, unit: 'percent' },
      status: { value: 'ERROR', error: { type: 'UPSTREAM', code: 'NO_RESPONSE' } },
      oemUpdatedAt: T + 1_000_000,
      retrievedAt: T + 1_000_100,
      error: { type: 'UPSTREAM', code: 'NO_RESPONSE' },
      errorAt: T + 5_000_000,
    });

    await process_([record(stateEvent(vehicleId, { soc: 43, oemUpdatedAt: T + 6_000_000 }))]);
    const after = await read(vehicleId);
    const signal = (after.body.signals as Record<string, Record<string, unknown>>)[
      'tractionbattery-stateofcharge'
    ];
    expect(signal).toEqual({
      body: { value: 43, unit: 'percent' },
      status: { value: 'SUCCESS' },
      oemUpdatedAt: T + 6_000_000,
      retrievedAt: T + 6_000_100,
    });
  });

  it('an error delivered before the stored value was is not recorded', async () => {
    const vehicleId = randomUUID();
    await process_([record(stateEvent(vehicleId, { soc: 42, oemUpdatedAt: T + 5_000_000 }))]);
    await process_([record(socErrorEvent(vehicleId, T + 4_000_000))]);
    const { signals } = await storedState(vehicleId);
    expect(signals[SOC]).not.toHaveProperty('error');
    expect(signals[SOC]?.status).toEqual({ value: 'SUCCESS' });
  });

  it('duplicate eventId → one effect: a second VEHICLE_STATE with other values does nothing', async () => {
    const vehicleId = randomUUID();
    const eventId = randomUUID();
    await process_([record(stateEvent(vehicleId, { eventId, soc: 50, oemUpdatedAt: T + 1_000_000 }))]);
    const result = await process_([
      record(stateEvent(vehicleId, { eventId, soc: 99, oemUpdatedAt: T + 9_000_000 })),
    ]);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await socOf(vehicleId)).toBe(50);
  });

  it('duplicate eventId → one effect: replaying an ERROR after its RESOLVED does not reopen it', async () => {
    const vehicleId = randomUUID();
    const errorId = randomUUID();
    await process_([record(errorEvent(vehicleId, 'ERROR', T + 1_000_000, errorId))]);
    expect((await read(vehicleId)).body.status).toBe('NEEDS_REAUTH');

    await process_([record(errorEvent(vehicleId, 'RESOLVED', T + 2_000_000))]);
    await process_([record(errorEvent(vehicleId, 'ERROR', T + 1_000_000, errorId))]); // Smartcar retry, same eventId
    await process_([record(errorEvent(vehicleId, 'ERROR', T + 1_500_000))]); // an older report arriving late

    const { body } = await read(vehicleId);
    expect(body.status).toBe('CONNECTED');
    expect(body.errors).toEqual([]);
    const { errors } = await storedState(vehicleId);
    expect(errors[AUTH_ERROR]).toMatchObject({
      state: 'RESOLVED',
      at: T + 2_000_000,
      expiresAt: (T + 2_000_000) / 1000 + 1_209_600,
    });

    // A newer ERROR reopens it (and drops the TTL).
    await process_([record(errorEvent(vehicleId, 'ERROR', T + 3_000_000))]);
    expect((await read(vehicleId)).body.status).toBe('NEEDS_REAUTH');
    expect((await storedState(vehicleId)).errors[AUTH_ERROR]).not.toHaveProperty('expiresAt');
  });

  it('a message whose processing is retried (same message, same eventId) is idempotent', async () => {
    const vehicleId = randomUUID();
    const message = record(stateEvent(vehicleId, { soc: 70 }));
    await process_([message]);
    await process_([message]);
    expect(await socOf(vehicleId)).toBe(70);
  });

  it('concurrent events for one vehicle: the newest value wins', async () => {
    const vehicleId = randomUUID();
    const times = Array.from({ length: 24 }, (_, index) => T + index * 1_000).sort(() => Math.random() - 0.5);
    // Several invocations at once, each with a batch whose records run in parallel.
    const batches = [times.slice(0, 8), times.slice(8, 16), times.slice(16)].map((slice) =>
      process_(
        slice.map((oemUpdatedAt) =>
          record(stateEvent(vehicleId, { soc: (oemUpdatedAt - T) / 1_000, oemUpdatedAt })),
        ),
      ),
    );
    const results = await Promise.all(batches);
    expect(results.flatMap((result) => result.batchItemFailures)).toEqual([]);
    expect(await socOf(vehicleId)).toBe((Math.max(...times) - T) / 1_000);
    expect((await read(vehicleId)).body.updatedAt).toBe(Math.max(...times) + 200);
  });

  it('a VEHICLE_STATE and a VEHICLE_ERROR delivered together both land', async () => {
    const vehicleId = randomUUID();
    const results = await process_([
      record(withVehicle(captureJson('vw_id_4_all.json'), vehicleId)),
      record(withVehicle(captureJson('vw_id_4_broad_auth_error.json'), vehicleId)),
    ]);
    expect(results.batchItemFailures).toEqual([]);
    const { body } = await read(vehicleId);
    expect(body.status).toBe('NEEDS_REAUTH');
    expect(Object.keys(body.signals as object)).toContain('odometer-traveleddistance');
  });

  it('read returns the documented JSON shape for a real capture', async () => {
    const vehicleId = randomUUID();
    await process_([record(withVehicle(captureJson('byd_seal_all.json'), vehicleId))]);
    const { status, body } = await read(vehicleId);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        'actionRequired',
        'appUserId',
        'errors',
        'make',
        'model',
        'signals',
        'smartcarUserId',
        'status',
        'subscriptions',
        'updatedAt',
        'userId',
        'vehicleId',
        'year',
      ].sort(),
    );
    expect(body).toMatchObject({
      vehicleId,
      userId: 'da4ef0df-73b9-4ad7-8c59-1b15ff646f0b',
      make: 'BYD',
      model: 'Seal U Dm-i',
      year: 2025,
      status: 'CONNECTED',
      errors: [],
      updatedAt: 1767920009942,
    });
    const signals = body.signals as Record<string, Record<string, unknown>>;
    expect(Object.keys(signals)).toHaveLength(11);
    expect(signals['tractionbattery-stateofcharge']).toEqual({
      body: { value: 78, unit: 'percent' },
      status: { value: 'SUCCESS' },
      oemUpdatedAt: 1767920001000,
      retrievedAt: 1767920009852,
    });
    expect(signals['vehicleuseraccount-role']).toMatchObject({
      body: null,
      error: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' },
      errorAt: 1767920009942,
    });
  });

  it('TEST-mode events: a separate partition read with ?mode=test, or nothing with TEST_EVENTS=skip', async () => {
    const vehicleId = randomUUID();
    await process_([record(withVehicle(captureJson('vw_id_4_test_mode.json'), vehicleId))]);
    expect((await read(vehicleId)).status).toBe(404);
    const test = await read(vehicleId, 'test');
    expect(test.status).toBe(200);
    expect(Object.keys(test.body.signals as object)).toEqual([
      'internalcombustionengine-fuellevel',
      'internalcombustionengine-range',
    ]);

    const skipped = randomUUID();
    await skipProcessor(
      { Records: [record(withVehicle(captureJson('vw_id_4_test_mode.json'), skipped))] },
      context(),
    );
    expect((await read(skipped, 'test')).status).toBe(404);
  });

  it('v2 events are kept raw with a TTL and stay out of the read model', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    const body = JSON.stringify({
      version: '2.0',
      webhookId: 'wh',
      eventName: 'schedule',
      mode: 'live',
      payload: { vehicles: [{ vehicleId: first }, { vehicleId: second }] },
    });
    const sentAt = 1_800_000_000_000;
    await process_([record(body, sentAt)]);
    await process_([record(body, sentAt + 5)]); // Smartcar delivered it twice: same bytes, one effect
    for (const vehicleId of [first, second]) {
      const { Items } = await dynamo.documentClient.send(
        new QueryCommand({
          TableName: TABLES.vehicleTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `VEHICLE#${vehicleId}` },
        }),
      );
      expect(Items).toHaveLength(1);
      expect(Items?.[0]).toMatchObject({
        eventType: 'schedule',
        raw: body,
        expiresAt: 1_800_000_000 + 30 * 86_400,
      });
      expect(String(Items?.[0]?.sk)).toMatch(/^EVENT#schedule#[0-9a-f]{64}$/);
    }
    // Raw events alone are not vehicle state.
    expect((await read(first)).status).toBe(404);

    // Next to vehicle state, the raw event is not read (nor billed) by GET.
    await process_([record(stateEvent(first, { soc: 12 }))]);
    expect(await socOf(first)).toBe(12);
  });

  it('404 for an unknown vehicle, 400 for a malformed id', async () => {
    const unknown = await read(randomUUID());
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'vehicle_not_found' });
    expect((await read('bad#id')).status).toBe(400);
  });
});
