import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2, Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { createVehicleReadHandler } from '../../lambdas/vehicle-read/create-handler.js';
import { dynamoVehicleItems } from '../../lambdas/vehicle-read/store.js';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { httpEvent } from '../support/api-gateway-events.js';
import { useDynamoDbLocal } from '../support/dynamodb-local.js';
import { sqsRecord } from '../support/sqs-events.js';
import {
  authenticationFailedError,
  stateOfChargeSignal,
  vehicleErrorEvent,
  vehicleStateEvent,
} from '../support/webhook-events.js';

/**
 * Scenarios of retries, bad clocks and poison (issue: "Nothing lost under faults", items 2 and 3), each run through
 * the processor and the read Lambda against DynamoDB Local, with the times Smartcar really sends: a retry keeps
 * the eventId and the data but carries a new `deliveredAt` (25, 75 and 175 s after the first attempt).
 */

const TABLE = 'ordering-vehicles';
const HOUR = 3_600_000;
/** "Now" of the scenarios: when the receiver queued the messages (SQS SentTimestamp). */
const NOW = Math.floor(Date.now() / 1000) * 1000;

const dynamo = useDynamoDbLocal({ tables: { vehicleTable: TABLE }, removeUndefinedValues: true });
let processor: ReturnType<typeof createProcessorHandler>;
let reader: ReturnType<typeof createVehicleReadHandler>;

const logger = new Logger({ serviceName: 'ordering', logLevel: 'SILENT' });
const context = { functionName: 'fn', awsRequestId: 'r', getRemainingTimeInMillis: () => 30_000 } as Context;

const record = (body: unknown, messageId?: string): SQSRecord => sqsRecord(body, { sentAt: NOW, messageId });

async function deliver(...bodies: unknown[]): Promise<SQSBatchResponse> {
  return processor({ Records: bodies.map((body) => record(body)) }, context);
}

async function view(vehicleId: string): Promise<Record<string, unknown>> {
  const response = (await reader(
    httpEvent({ routeKey: 'GET /vehicles/{vehicleId}', pathParameters: { vehicleId } }),
    context,
  )) as APIGatewayProxyStructuredResultV2;
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

async function socOf(vehicleId: string): Promise<unknown> {
  const signals = (await view(vehicleId)).signals as Record<string, { body: { value: unknown } }>;
  return signals['tractionbattery-stateofcharge']?.body.value;
}

interface SocOptions {
  readonly soc: number;
  readonly deliveredAt: number;
  readonly oemUpdatedAt?: number;
  readonly retrievedAt?: number;
  readonly eventId?: string;
}

/** A state of charge whose signal carries only the times given (a bad clock sends some, or none). */
function socEvent(vehicleId: string, options: SocOptions) {
  const meta = {
    ...(options.oemUpdatedAt !== undefined && { oemUpdatedAt: options.oemUpdatedAt }),
    ...(options.retrievedAt !== undefined && { retrievedAt: options.retrievedAt }),
  };
  const signal = stateOfChargeSignal({ body: { value: options.soc, unit: 'percent' }, meta });
  return vehicleStateEvent(vehicleId, [signal], {
    eventId: options.eventId,
    deliveredAt: options.deliveredAt,
    mode: 'LIVE',
  });
}

const reauthError = (vehicleId: string, state: 'ERROR' | 'RESOLVED', deliveredAt: number, eventId: string) =>
  vehicleErrorEvent(vehicleId, [authenticationFailedError(state)], { eventId, deliveredAt });

async function quarantined(): Promise<Record<string, unknown>[]> {
  const { Items } = await dynamo.documentClient.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'QUARANTINE' },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}

async function partition(vehicleId: string): Promise<Record<string, unknown>[]> {
  const { Items } = await dynamo.documentClient.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `VEHICLE#${vehicleId}` },
    }),
  );
  return Items ?? [];
}

beforeAll(async () => {
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  processor = createProcessorHandler({
    config: loadProcessorConfig({ VEHICLE_TABLE_NAME: TABLE }),
    documentClient: dynamo.documentClient,
    logger,
    metrics: new Metrics({ namespace: 'Ordering', serviceName: 'ordering' }),
  });
  reader = createVehicleReadHandler({ items: dynamoVehicleItems(dynamo.documentClient, TABLE), logger });
});

describe('ordering that a retry or a bad clock cannot fool', () => {
  it('an ERROR whose first delivery failed, retried after its RESOLVED was applied, does not reopen it', async () => {
    const vehicleId = randomUUID();
    const first = NOW - 10 * 60_000;
    const errorId = randomUUID();
    // The ERROR's first delivery got a 503 (SQS was down); its RESOLVED, 10 s later, was applied.
    await deliver(reauthError(vehicleId, 'RESOLVED', first + 10_000, randomUUID()));
    // Smartcar's retries of the ERROR: same eventId, deliveredAt 25, 75 and 175 s after the first attempt.
    for (const delay of [25_000, 75_000, 175_000]) {
      expect(await deliver(reauthError(vehicleId, 'ERROR', first + delay, errorId))).toEqual({
        batchItemFailures: [],
      });
      expect((await view(vehicleId)).status).toBe('CONNECTED');
    }
    // An ERROR delivered after the whole retry span is a new one: it reopens the error.
    await deliver(reauthError(vehicleId, 'ERROR', first + 10_000 + 241_000, randomUUID()));
    expect((await view(vehicleId)).status).toBe('NEEDS_REAUTH');
  });

  it('a value ordered by OEM time is not overwritten by an older value that only has a delivery time', async () => {
    const vehicleId = randomUUID();
    // The OEM clock lags delivery by 11 hours (as in a capture).
    await deliver(
      socEvent(vehicleId, {
        soc: 70,
        oemUpdatedAt: NOW - 11 * HOUR,
        retrievedAt: NOW - 200,
        deliveredAt: NOW - 100,
      }),
    );
    // An older event (delivered a minute earlier, arriving late) whose signal has no OEM or retrieval time.
    await deliver(socEvent(vehicleId, { soc: 60, deliveredAt: NOW - 60_000 }));
    expect(await socOf(vehicleId)).toBe(70);
  });

  it('a newer value is not blocked by a stored one ordered by delivery time only', async () => {
    const vehicleId = randomUUID();
    await deliver(socEvent(vehicleId, { soc: 60, deliveredAt: NOW - 60_000 }));
    // Newer (delivered a minute later), but its OEM time lags 11 hours behind delivery.
    await deliver(socEvent(vehicleId, { soc: 70, oemUpdatedAt: NOW - 11 * HOUR, deliveredAt: NOW - 100 }));
    expect(await socOf(vehicleId)).toBe(70);
  });

  it.each([
    ['a far-future', NOW + 24 * HOUR],
    ['a microsecond-scale', NOW * 1000],
  ])('%s OEM time does not block the signal from ever updating again', async (_label, absurd) => {
    const vehicleId = randomUUID();
    await deliver(socEvent(vehicleId, { soc: 10, oemUpdatedAt: absurd, deliveredAt: NOW - 120_000 }));
    await deliver(socEvent(vehicleId, { soc: 20, oemUpdatedAt: NOW - 90_000, deliveredAt: NOW - 60_000 }));
    expect(await socOf(vehicleId)).toBe(20);
  });

  it('a retried event whose signal has only a delivery time does not overwrite the newer value', async () => {
    const vehicleId = randomUUID();
    const first = NOW - 5 * 60_000;
    const eventId = randomUUID();
    // Its first delivery was queued but answered too late, so Smartcar retries it 25 s later.
    await deliver(socEvent(vehicleId, { soc: 40, deliveredAt: first, eventId }));
    await deliver(socEvent(vehicleId, { soc: 45, deliveredAt: first + 10_000 }));
    await deliver(socEvent(vehicleId, { soc: 40, deliveredAt: first + 25_000, eventId }));
    expect(await socOf(vehicleId)).toBe(45);
  });
});

describe('poison is quarantined on the first attempt, once', () => {
  function withSignal(vehicleId: string, signal: Record<string, unknown>) {
    const event = socEvent(vehicleId, { soc: 1, deliveredAt: NOW - 1000 });
    return { ...event, data: { ...event.data, signals: [signal] } };
  }

  it.each([
    [
      'a number above 2^53',
      { code: 'odometer-traveleddistance', bodyJson: '{"value": 123456789012345678901}' },
    ],
    [
      'nesting deeper than DynamoDB allows',
      { code: 'charge-chargetimers', bodyJson: `${'{"a":'.repeat(40)}1${'}'.repeat(40)}` },
    ],
    ['a signal code over the key limit', { code: `x-${'y'.repeat(1100)}`, bodyJson: '{"value": 1}' }],
  ])(
    '%s: acknowledged, stored once with raw body, reason and TTL, nothing else written',
    async (_label, poison) => {
      const vehicleId = randomUUID();
      const raw = JSON.stringify(withSignal(vehicleId, { code: poison.code, body: 'BODY' })).replace(
        '"BODY"',
        poison.bodyJson,
      );
      const messageId = randomUUID();
      const before = (await quarantined()).length;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const result = await processor({ Records: [record(raw, messageId)] }, context);
        expect(result).toEqual({ batchItemFailures: [] });
      }
      const items = await quarantined();
      expect(items).toHaveLength(before + 1);
      expect(items.find((item) => item.messageId === messageId)).toMatchObject({
        raw,
        reason: expect.any(String) as unknown,
        expiresAt: Math.floor(NOW / 1000) + 14 * 86_400,
      });
      expect(await partition(vehicleId)).toEqual([]);
    },
  );

  it('a v2 body naming more vehicles than the fan-out cap is quarantined instead of written under each', async () => {
    const vehicles = Array.from({ length: 60 }, () => ({ vehicleId: randomUUID() }));
    const raw = JSON.stringify({
      version: '2.0',
      eventName: 'schedule',
      mode: 'live',
      payload: { vehicles },
    });
    const messageId = randomUUID();
    expect(await processor({ Records: [record(raw, messageId)] }, context)).toEqual({
      batchItemFailures: [],
    });
    expect((await quarantined()).some((item) => item.messageId === messageId)).toBe(true);
    expect(await partition(vehicles[0]?.vehicleId ?? '')).toEqual([]);
  });
});
