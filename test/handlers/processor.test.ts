import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  DynamoDBServiceException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type PutCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { recentEventId } from '../../lambdas/webhook-processor/merge.js';
import { decodeState, type VehicleState } from '../../lambdas/vehicles/vehicle-state.js';
import { lambdaContext } from '../support/api-gateway-events.js';
import { sqsRecord as queuedRecord } from '../support/sqs-events.js';
import { vehicleStateEvent } from '../support/webhook-events.js';
import { CAPTURES_DIR as CAPTURES } from '../support/webhook-fixtures.js';

const capture = (file: string) => readFileSync(join(CAPTURES, file), 'utf8');

const ENV = { VEHICLE_TABLE_NAME: 'vehicles' };

// ---------------------------------------------------------------------------------------------------------------
// The document client is mocked with a small in-memory table: GetItem reads it, PutItem honours the three
// conditions the processor uses (item absent, sort key absent, version equal), UpdateItem (the PROFILE) stores.

const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
  { marshallOptions: { removeUndefinedValues: true } },
);
const documentMock = mockClient(documentClient);
const table = new Map<string, Record<string, unknown>>();
const keyOf = (key: Record<string, unknown> | undefined) => `${String(key?.pk)}|${String(key?.sk)}`;

function conditionalFailure(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
}

function installTable(): void {
  documentMock.on(GetCommand).callsFake((input: { Key: Record<string, unknown> }) => ({
    Item: table.get(keyOf(input.Key)),
  }));
  documentMock.on(PutCommand).callsFake((input: PutCommandInput) => {
    const item = input.Item ?? {};
    const existing = table.get(keyOf(item));
    const condition = input.ConditionExpression ?? '';
    if (condition.startsWith('attribute_not_exists') && existing) throw conditionalFailure();
    if (condition === '#version = :version') {
      if (existing?.version !== input.ExpressionAttributeValues?.[':version']) throw conditionalFailure();
    }
    table.set(keyOf(item), item);
    return {};
  });
  documentMock.on(UpdateCommand).callsFake((input: { Key: Record<string, unknown> }) => {
    table.set(keyOf(input.Key), { ...table.get(keyOf(input.Key)), ...input.Key });
    return {};
  });
}

function stateOf(pk: string): VehicleState {
  return decodeState(table.get(`${pk}|STATE`));
}

function putsTo(sk: string): PutCommandInput[] {
  return documentMock
    .commandCalls(PutCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.Item?.sk === sk);
}

const logger = new Logger({ serviceName: 'processor-test', logLevel: 'SILENT' });
let metrics: Metrics;

/** A fresh invocation with the processor's 30 s timeout ahead of it. */
const context = (): Context => lambdaContext('webhook-processor', 30_000);

let messageCounter = 0;
const sqsRecord = (body: string, messageId = `msg-${++messageCounter}`): SQSRecord =>
  queuedRecord(body, { messageId, sentAt: 1_800_000_000_000 });

function batch(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A sane event time, before the records' SentTimestamp (1800000000000). */
const T = 1_750_000_000_000;

/** A live VEHICLE_STATE envelope for `vehicleId` carrying `signals`, delivered 10 ms after `oemUpdatedAt`. */
function vehicleStateBody(
  vehicleId: string,
  eventId: string,
  signals: readonly Record<string, unknown>[],
  oemUpdatedAt = T,
): string {
  return JSON.stringify(
    vehicleStateEvent(vehicleId, signals, {
      eventId,
      deliveredAt: oemUpdatedAt + 10,
      mode: 'LIVE',
      vehicle: { make: 'VW', model: 'ID.4', year: 2021 },
    }),
  );
}

/** A VEHICLE_STATE for `vehicleId` with a state-of-charge and a location signal. */
function stateBody(vehicleId: string, eventId: string, soc = 50, oemUpdatedAt = T): string {
  const meta = { oemUpdatedAt, retrievedAt: oemUpdatedAt + 5 };
  return vehicleStateBody(
    vehicleId,
    eventId,
    [
      {
        code: 'tractionbattery-stateofcharge',
        name: 'StateOfCharge',
        group: 'TractionBattery',
        body: { value: soc, unit: 'percent' },
        meta,
      },
      {
        code: 'location-preciselocation',
        name: 'PreciseLocation',
        group: 'Location',
        body: { latitude: 52.2385230555, longitude: 0.1546555555 },
        meta,
      },
    ],
    oemUpdatedAt,
  );
}

function handler(env: Record<string, string> = {}) {
  return createProcessorHandler({
    config: loadProcessorConfig({ ...ENV, ...env }),
    documentClient,
    logger,
    metrics,
  });
}

function metricTotal(name: string): number {
  const spy = vi.mocked(metrics.addMetric);
  return spy.mock.calls
    .filter(([metric]) => metric === name)
    .reduce((sum, [, , value]) => sum + Number(value), 0);
}

beforeAll(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

beforeEach(() => {
  documentMock.reset();
  table.clear();
  installTable();
  metrics = new Metrics({ namespace: 'Test', serviceName: 'processor-test' });
  vi.spyOn(metrics, 'addMetric');
});

afterEach(() => {
  vi.restoreAllMocks();
});

const throttled = () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });

describe('processor handler', () => {
  it('applies an event with one read and one write of the state item, plus the profile on first sight', async () => {
    const result = await handler()(batch(sqsRecord(capture('byd_seal_all.json'))), context());
    expect(result).toEqual({ batchItemFailures: [] });
    const pk = 'VEHICLE#b3014ded-85db-4f12-8923-7a231354d8d0';
    // 11 signals, 3 requests: GetItem (strongly consistent), the PROFILE update, the versioned PutItem.
    expect(documentMock.calls()).toHaveLength(3);
    expect(documentMock.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk, sk: 'STATE' },
      ConsistentRead: true,
    });
    expect(documentMock.commandCalls(UpdateCommand)[0]?.args[0].input.Key).toEqual({ pk, sk: 'PROFILE' });
    expect(putsTo('STATE')[0]).toMatchObject({ ConditionExpression: 'attribute_not_exists(#pk)' });
    const state = stateOf(pk);
    expect(state.version).toBe(1);
    expect(Object.keys(state.signals)).toHaveLength(11);
    expect(metricTotal('EventsProcessed')).toBe(1);
    expect(metricTotal('SignalsWritten')).toBe(7);
    expect(metricTotal('SignalErrorsRecorded')).toBe(4);

    // The next event for the vehicle: two requests, and the write is conditional on the version read.
    documentMock.resetHistory();
    const later = 1_767_920_100_000; // after the capture's deliveredAt
    await handler()(
      batch(sqsRecord(stateBody('b3014ded-85db-4f12-8923-7a231354d8d0', 'evt-2', 50, later))),
      context(),
    );
    expect(documentMock.calls()).toHaveLength(3); // the profile changed (other make): written again
    documentMock.resetHistory();
    await handler()(
      batch(sqsRecord(stateBody('b3014ded-85db-4f12-8923-7a231354d8d0', 'evt-3', 51, later + 1))),
      context(),
    );
    expect(documentMock.calls()).toHaveLength(2);
    expect(putsTo('STATE')[0]).toMatchObject({
      ConditionExpression: '#version = :version',
      ExpressionAttributeValues: { ':version': 2 },
    });
    expect(stateOf(pk).version).toBe(3);
  });

  it('the records of one vehicle in a batch are merged into one read and one write', async () => {
    const records = [1, 2, 3, 4, 5].map((n) => sqsRecord(stateBody('veh-a', `evt-${n}`, n, T + n)));
    const result = await handler()(batch(...records), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(documentMock.commandCalls(GetCommand)).toHaveLength(1);
    expect(putsTo('STATE')).toHaveLength(1);
    expect(stateOf('VEHICLE#veh-a').signals['tractionbattery-stateofcharge']?.body).toEqual({
      value: 5,
      unit: 'percent',
    });
    expect(metricTotal('EventsProcessed')).toBe(5);
  });

  it('a lost version race is retried on a fresh read, and both writers keep their changes', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-1', 10, T))), context());
    // Another invocation writes between our read and our write, once.
    let raced = false;
    documentMock.on(PutCommand, { Item: { sk: 'STATE' } }).callsFake((input: PutCommandInput) => {
      if (!raced) {
        raced = true;
        const current = table.get('VEHICLE#veh-a|STATE') ?? {};
        table.set('VEHICLE#veh-a|STATE', { ...current, version: Number(current.version) + 1 });
        throw conditionalFailure();
      }
      table.set(keyOf(input.Item), input.Item ?? {});
      return {};
    });
    const result = await run(batch(sqsRecord(stateBody('veh-a', 'evt-2', 20, T + 1))), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(documentMock.commandCalls(GetCommand).length).toBe(3);
    expect(stateOf('VEHICLE#veh-a').signals['tractionbattery-stateofcharge']?.body).toEqual({
      value: 20,
      unit: 'percent',
    });
    expect(metricTotal('StateWriteConflicts')).toBe(1);
  });

  it('a DynamoDB failure for one vehicle reports only its records; the other vehicles succeed', async () => {
    documentMock.on(GetCommand, { Key: { pk: 'VEHICLE#veh-throttled', sk: 'STATE' } }).rejects(throttled());
    const ok1 = sqsRecord(stateBody('veh-a', 'evt-a'));
    const failing = sqsRecord(stateBody('veh-throttled', 'evt-t'));
    const ok2 = sqsRecord(stateBody('veh-b', 'evt-b'));

    const result = await handler()(batch(ok1, failing, ok2), context());

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: failing.messageId }] });
    expect(Object.keys(stateOf('VEHICLE#veh-a').signals)).toHaveLength(2);
    expect(Object.keys(stateOf('VEHICLE#veh-b').signals)).toHaveLength(2);
    expect(metricTotal('ProcessingFailures')).toBe(1);
  });

  it('a record that keeps failing is reported on every attempt (so SQS moves it to the DLQ)', async () => {
    documentMock.on(PutCommand, { Item: { pk: 'VEHICLE#veh-throttled' } }).rejects(throttled());
    const failing = sqsRecord(stateBody('veh-throttled', 'evt-t'));
    const ok = sqsRecord(stateBody('veh-a', 'evt-a'));
    const run = handler();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await run(batch(failing, ok), context());
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.messageId }]);
    }
  });

  it('poison is quarantined once on its first attempt (raw body, reason, TTL) and acknowledged', async () => {
    const notJson = sqsRecord('{"eventType": "VEHICLE_STATE", ');
    const noVehicle = sqsRecord(
      JSON.stringify({ eventId: 'e-1', eventType: 'VEHICLE_STATE', data: { signals: [] } }),
    );
    const good = sqsRecord(stateBody('veh-a', 'evt-a'));
    const errorSpy = vi.spyOn(logger, 'error');
    const run = handler();

    const result = await run(batch(notJson, good, noVehicle), context());

    expect(result.batchItemFailures).toEqual([]);
    const quarantined = putsTo(`1800000000000#${notJson.messageId}`)[0]?.Item;
    expect(quarantined).toMatchObject({
      pk: 'QUARANTINE',
      raw: '{"eventType": "VEHICLE_STATE", ',
      reason: 'body is not JSON',
      messageId: notJson.messageId,
      expiresAt: 1_800_000_000 + 14 * 86_400,
    });
    expect(table.get(`QUARANTINE|1800000000000#${noVehicle.messageId}`)).toMatchObject({
      reason: 'vehicle event without a vehicle id',
    });
    expect(Object.keys(stateOf('VEHICLE#veh-a').signals)).toHaveLength(2);
    // Counted per event type and once more as the service total the alarm watches.
    expect(metricTotal('EventsQuarantined')).toBe(2 * 2);
    const logged = JSON.stringify(errorSpy.mock.calls);
    expect(logged).toContain(noVehicle.messageId);
    expect(logged).not.toContain('VEHICLE_STATE", ');

    // A redelivery finds it quarantined already: stored once, counted once, acknowledged again.
    expect(await run(batch(notJson), context())).toEqual({ batchItemFailures: [] });
    expect(metricTotal('EventsQuarantined')).toBe(2 * 2);
  });

  it.each([
    ['a number above 2^53', JSON.parse('{"value": 12345678901234567890}') as unknown],
    ['nesting deeper than DynamoDB allows', JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) as unknown],
  ])('a signal with %s is quarantined on the first attempt, nothing else written', async (_label, body) => {
    const poison = JSON.parse(stateBody('veh-p', 'evt-p')) as { data: { signals: { body: unknown }[] } };
    const [first] = poison.data.signals;
    if (first) first.body = body;
    const record = sqsRecord(JSON.stringify(poison));
    const result = await handler()(batch(record), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(table.get(`QUARANTINE|1800000000000#${record.messageId}`)).toMatchObject({ raw: record.body });
    expect(table.has('VEHICLE#veh-p|STATE')).toBe(false);
    expect(metricTotal('EventsQuarantined')).toBe(2);
  });

  it('a change DynamoDB rejects for good is quarantined alone; its batch-mates for the vehicle are applied', async () => {
    const tooLarge = sqsRecord(stateBody('veh-a', 'evt-large', 1, T + 1));
    const fine = sqsRecord(stateBody('veh-a', 'evt-fine', 2, T + 2));
    documentMock.on(PutCommand, { Item: { sk: 'STATE' } }).callsFake((input: PutCommandInput) => {
      // Any item that holds the large event is refused.
      if (decodeState(input.Item).recent[recentEventId('VEHICLE_STATE#evt-large')] !== undefined) {
        throw new DynamoDBServiceException({
          name: 'ValidationException',
          $fault: 'client',
          message: 'Item size has exceeded the maximum allowed size',
          $metadata: {},
        });
      }
      table.set(keyOf(input.Item), input.Item ?? {});
      return {};
    });
    const result = await handler()(batch(tooLarge, fine), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(table.get(`QUARANTINE|1800000000000#${tooLarge.messageId}`)).toMatchObject({
      reason: 'DynamoDB rejected the change for good',
    });
    expect(stateOf('VEHICLE#veh-a').signals['tractionbattery-stateofcharge']?.eventId).toBe('evt-fine');
  });

  it('a batch in which every record fails throws, so the whole batch is retried', async () => {
    documentMock.on(GetCommand).rejects(throttled());
    await expect(handler()(batch(sqsRecord(stateBody('veh-a', 'e'))), context())).rejects.toThrow();
  });

  it('a repeated event (same eventId, even with other values) changes nothing', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-dup', 50, T))), context());
    const written = table.get('VEHICLE#veh-a|STATE');

    const result = await run(batch(sqsRecord(stateBody('veh-a', 'evt-dup', 99, T + 1000))), context());

    expect(result).toEqual({ batchItemFailures: [] });
    expect(table.get('VEHICLE#veh-a|STATE')).toBe(written);
    expect(metricTotal('DuplicateEvents')).toBe(1);
    expect(metricTotal('EventsProcessed')).toBe(1);
  });

  it('two copies of one event in one batch: applied once, the copy is a duplicate', async () => {
    const result = await handler()(
      batch(sqsRecord(stateBody('veh-a', 'evt-twice')), sqsRecord(stateBody('veh-a', 'evt-twice'))),
      context(),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(putsTo('STATE')).toHaveLength(1);
    expect(metricTotal('DuplicateEvents')).toBe(1);
  });

  it('a VEHICLE_STATE and a VEHICLE_ERROR that share an eventId are both applied', async () => {
    await handler()(
      batch(sqsRecord(capture('vw_id_4_all.json')), sqsRecord(capture('vw_id_4_error.json'))),
      context(),
    );
    const state = stateOf('VEHICLE#a1d50709-3502-4faa-ba43-a5c7565e6a09');
    expect(Object.keys(state.signals)).toContain('odometer-traveleddistance');
    expect(Object.keys(state.errors)).toContain('PERMISSION#NONE');
  });

  it('older data is skipped, not an error, and nothing is written', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-new', 80, T + 1000))), context());
    documentMock.resetHistory();
    const result = await run(batch(sqsRecord(stateBody('veh-a', 'evt-old', 60, T))), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(metricTotal('StaleSignalsSkipped')).toBe(2);
    expect(metricTotal('EventsWithoutChange')).toBe(1);
    expect(documentMock.calls()).toHaveLength(1); // the read only
  });

  it('counts the timestamps it had to treat as missing (outside the sane window)', async () => {
    const body = stateBody('veh-a', 'evt-absurd', 50, T * 1000); // microsecond-scale times
    expect(await handler()(batch(sqsRecord(body)), context())).toEqual({ batchItemFailures: [] });
    // oemUpdatedAt and retrievedAt of two signals, and the event's deliveredAt.
    expect(metricTotal('InsaneTimestamps')).toBe(5);
  });

  it('VERIFY is ignored; TEST events go to TEST# partitions, or are dropped and counted with TEST_EVENTS=skip', async () => {
    const verify = await handler()(batch(sqsRecord(capture('vw_id_4_verify.json'))), context());
    expect(verify).toEqual({ batchItemFailures: [] });
    expect(documentMock.calls()).toHaveLength(0);

    await handler()(batch(sqsRecord(capture('vw_id_4_test_mode.json'))), context());
    const pks = documentMock.commandCalls(PutCommand).map((call) => call.args[0].input.Item?.pk);
    expect(new Set(pks)).toEqual(new Set(['TEST#VEHICLE#a1d50709-3502-4faa-ba43-a5c7565e6a09']));

    documentMock.resetHistory();
    const skipped = await handler({ TEST_EVENTS: 'skip' })(
      batch(sqsRecord(capture('vw_id_4_test_mode.json'))),
      context(),
    );
    expect(skipped).toEqual({ batchItemFailures: [] });
    expect(documentMock.calls()).toHaveLength(0);
    expect(metricTotal('TestEventsSkipped')).toBe(1);
  });

  it('v2 events are stored raw under each vehicle with a conditional put', async () => {
    const body = JSON.stringify({
      version: '2.0',
      eventName: 'schedule',
      mode: 'live',
      payload: [{ vehicleId: 'v2-a' }, { vehicleId: 'v2-b' }],
    });
    await handler()(batch(sqsRecord(body)), context());
    const puts = documentMock.commandCalls(PutCommand).map((call) => call.args[0].input);
    expect(puts.map((input) => input.Item?.pk)).toEqual(['VEHICLE#v2-a', 'VEHICLE#v2-b']);
    expect(puts[0]?.Item).toMatchObject({ eventType: 'schedule', raw: body, receivedAt: 1800000000000 });
    expect(puts[0]?.ConditionExpression).toBe('attribute_not_exists(#sk)');
  });

  it('logs identifiers and counts, never signal values or locations', async () => {
    const spies = (['debug', 'info', 'warn', 'error'] as const).map((level) => vi.spyOn(logger, level));
    documentMock.on(GetCommand, { Key: { pk: 'VEHICLE#veh-throttled' } }).rejects(throttled());
    await handler()(
      batch(sqsRecord(stateBody('veh-a', 'evt-log')), sqsRecord(stateBody('veh-throttled', 'evt-t'))),
      context(),
    );
    const logged = JSON.stringify(spies.flatMap((spy) => spy.mock.calls));
    expect(logged).toContain('evt-log');
    expect(logged).toContain('veh-a');
    expect(logged).not.toContain('52.238');
    expect(logged).not.toContain('percent');
  });
});

describe('command confirmation', () => {
  /** A live VEHICLE_STATE reporting the lock state. */
  function lockBody(vehicleId: string, eventId: string, isLocked: boolean): string {
    return vehicleStateBody(vehicleId, eventId, [
      {
        code: 'closure-islocked',
        name: 'IsLocked',
        group: 'Closure',
        body: { value: isLocked },
        meta: { oemUpdatedAt: T, retrievedAt: T + 5 },
      },
    ]);
  }

  function confirmingHandler(
    confirmCommands: (vehicleId: string, observed: readonly unknown[]) => Promise<number>,
  ) {
    return createProcessorHandler({
      config: loadProcessorConfig(ENV),
      documentClient,
      logger,
      metrics,
      confirmCommands,
    });
  }

  it('hands the lock state of an applied event to the command confirmation, once per event', async () => {
    const confirm = vi.fn(() => Promise.resolve(1));
    const result = await confirmingHandler(confirm)(
      batch(sqsRecord(lockBody('veh-lock', 'evt-lock', true)), sqsRecord(stateBody('veh-soc', 'evt-soc'))),
      context(),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    // The state-of-charge event reports no lock or charging signal: no confirmation lookup for it.
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(confirm).toHaveBeenCalledWith('veh-lock', [
      expect.objectContaining({ code: 'closure-islocked', value: true, oemUpdatedAt: T }),
    ]);
    expect(metricTotal('CommandsConfirmed')).toBe(1);
  });

  it('retries the record when the confirmation fails, and confirms on the retry although the event is a duplicate', async () => {
    const confirm = vi.fn().mockRejectedValueOnce(new Error('audit table unavailable')).mockResolvedValue(1);
    const record = sqsRecord(lockBody('veh-lock', 'evt-lock', true));
    const first = await confirmingHandler(confirm)(
      batch(record, sqsRecord(stateBody('veh-b', 'evt-b'))),
      context(),
    );
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    const retry = await confirmingHandler(confirm)(batch(record), context());
    expect(retry).toEqual({ batchItemFailures: [] });
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(metricTotal('DuplicateEvents')).toBe(1);
  });

  it('does not confirm from TEST-mode events', async () => {
    const confirm = vi.fn(() => Promise.resolve(1));
    const body = JSON.parse(lockBody('veh-lock', 'evt-test', true)) as { meta: Record<string, unknown> };
    body.meta.mode = 'TEST';
    await confirmingHandler(confirm)(batch(sqsRecord(JSON.stringify(body))), context());
    expect(confirm).not.toHaveBeenCalled();
  });
});

describe('handler module', () => {
  it('fails the cold start loudly on bad configuration, naming the variable but not its value', async () => {
    vi.resetModules();
    vi.stubEnv('VEHICLE_TABLE_NAME', '');
    vi.stubEnv('TEST_EVENTS', 'sometimes');
    await expect(import('../../lambdas/webhook-processor/handler.js')).rejects.toThrow(
      /Invalid configuration: .*VEHICLE_TABLE_NAME.*TEST_EVENTS/,
    );
    vi.unstubAllEnvs();
  });

  it('exports a handler built from module-scope clients', async () => {
    vi.resetModules();
    vi.stubEnv('VEHICLE_TABLE_NAME', 'vehicles');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const module = await import('../../lambdas/webhook-processor/handler.js');
    expect(typeof module.handler).toBe('function');
    vi.unstubAllEnvs();
  });
});
