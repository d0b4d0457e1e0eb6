import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { CAPTURES_DIR as CAPTURES } from '../support/webhook-fixtures.js';

const capture = (file: string) => readFileSync(join(CAPTURES, file), 'utf8');

const ENV = {
  VEHICLE_TABLE_NAME: 'vehicles',
  IDEMPOTENCY_TABLE_NAME: 'idempotency',
};

// ---------------------------------------------------------------------------------------------------------------
// Clients: the document client (vehicle writes) and the low-level client (Powertools idempotency records) are
// mocked separately. The idempotency mock keeps records in a Map and evaluates Powertools' PutItem condition
// (no record, or an expired one, or an INPROGRESS one whose in-progress expiry has passed), so dedupe, expiry
// and crashed invocations behave like the real table.

const dynamoClient = new DynamoDBClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
  marshallOptions: { removeUndefinedValues: true },
});
const idempotencyMock = mockClient(dynamoClient);
const documentMock = mockClient(documentClient);

type StoredRecord = Record<string, AttributeValue>;
const idempotencyTable = new Map<string, StoredRecord>();

function keyOf(key: Record<string, AttributeValue> | undefined): string {
  const id = key?.id;
  if (!id || !('S' in id) || id.S === undefined) throw new Error('idempotency key missing');
  return id.S;
}

function installIdempotencyTable(): void {
  idempotencyMock
    .on(PutItemCommand)
    .callsFake(
      (input: { Item: StoredRecord; ExpressionAttributeValues?: Record<string, AttributeValue> }) => {
        const id = keyOf(input.Item);
        const existing = idempotencyTable.get(id);
        const number = (value: AttributeValue | undefined) =>
          value !== undefined && 'N' in value && value.N !== undefined ? Number(value.N) : undefined;
        const values = input.ExpressionAttributeValues ?? {};
        // `#expiry < :now` (seconds) OR (`#status = INPROGRESS` AND `#in_progress_expiry < :now_in_millis`).
        const expired = (number(existing?.expiration) ?? Infinity) < (number(values[':now']) ?? -Infinity);
        const inProgressExpiry = number(existing?.in_progress_expiration);
        const abandoned =
          existing?.status?.S === 'INPROGRESS' &&
          inProgressExpiry !== undefined &&
          inProgressExpiry < (number(values[':now_in_millis']) ?? -Infinity);
        if (existing && !expired && !abandoned) {
          throw new ConditionalCheckFailedException({
            message: 'The conditional request failed',
            $metadata: {},
            Item: existing,
          });
        }
        idempotencyTable.set(id, input.Item);
        return {};
      },
    );
  idempotencyMock
    .on(UpdateItemCommand)
    .callsFake((input: { Key: StoredRecord; ExpressionAttributeValues: Record<string, AttributeValue> }) => {
      const id = keyOf(input.Key);
      const values = input.ExpressionAttributeValues;
      idempotencyTable.set(id, {
        ...idempotencyTable.get(id),
        id: { S: id },
        status: values[':status'] as AttributeValue,
        expiration: values[':expiry'] as AttributeValue,
        ...(values[':response_data'] && { data: values[':response_data'] }),
      });
      return {};
    });
  idempotencyMock.on(DeleteItemCommand).callsFake((input: { Key: StoredRecord }) => {
    idempotencyTable.delete(keyOf(input.Key));
    return {};
  });
  idempotencyMock.on(GetItemCommand).callsFake((input: { Key: StoredRecord }) => ({
    Item: idempotencyTable.get(keyOf(input.Key)),
  }));
}

// ---------------------------------------------------------------------------------------------------------------

const logger = new Logger({ serviceName: 'processor-test', logLevel: 'SILENT' });
let metrics: Metrics;

function context(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'webhook-processor',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:webhook-processor',
    memoryLimitInMB: '512',
    awsRequestId: 'request-1',
    logGroupName: '/aws/lambda/webhook-processor',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

let messageCounter = 0;
function sqsRecord(body: string, messageId = `msg-${++messageCounter}`): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1800000000000',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '1800000000001',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:webhooks',
    awsRegion: 'us-east-1',
  };
}

function batch(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A VEHICLE_STATE for `vehicleId` with one state-of-charge signal. */
function stateBody(vehicleId: string, eventId: string, soc = 50, oemUpdatedAt = 1_000): string {
  return JSON.stringify({
    eventId,
    eventType: 'VEHICLE_STATE',
    data: {
      user: { id: 'user-1' },
      vehicle: { id: vehicleId, make: 'VW', model: 'ID.4', year: 2021 },
      signals: [
        {
          code: 'tractionbattery-stateofcharge',
          name: 'StateOfCharge',
          group: 'TractionBattery',
          body: { value: soc, unit: 'percent' },
          meta: { oemUpdatedAt, retrievedAt: oemUpdatedAt + 5 },
        },
        {
          code: 'location-preciselocation',
          name: 'PreciseLocation',
          group: 'Location',
          body: { latitude: 52.2385230555, longitude: 0.1546555555 },
          meta: { oemUpdatedAt, retrievedAt: oemUpdatedAt + 5 },
        },
      ],
    },
    meta: { deliveredAt: oemUpdatedAt + 10, mode: 'LIVE' },
  });
}

function vehicleWrites(vehicleId: string): UpdateCommandInput[] {
  return documentMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => (input.Key as { pk: string }).pk === `VEHICLE#${vehicleId}`);
}

function handler(env: Record<string, string> = {}) {
  return createProcessorHandler({
    config: loadProcessorConfig({ ...ENV, ...env }),
    dynamoClient,
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
  idempotencyMock.reset();
  documentMock.reset();
  idempotencyTable.clear();
  installIdempotencyTable();
  documentMock.on(UpdateCommand).resolves({});
  documentMock.on(PutCommand).resolves({});
  metrics = new Metrics({ namespace: 'Test', serviceName: 'processor-test' });
  vi.spyOn(metrics, 'addMetric');
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('processor handler', () => {
  it('applies a batch: profile and every signal written, nothing reported as failed', async () => {
    const result = await handler()(batch(sqsRecord(capture('byd_seal_all.json'))), context());
    expect(result).toEqual({ batchItemFailures: [] });
    const writes = vehicleWrites('b3014ded-85db-4f12-8923-7a231354d8d0');
    expect(writes).toHaveLength(12);
    expect(writes.map((input) => input.Key?.sk)).toContain('SIGNAL#tractionbattery-stateofcharge');
    expect(writes.every((input) => typeof input.ConditionExpression === 'string')).toBe(true);
    expect(
      writes.every(
        (input) =>
          Object.keys(input.Key ?? {})
            .sort()
            .join() === 'pk,sk',
      ),
    ).toBe(true);
    expect(metricTotal('EventsProcessed')).toBe(1);
    expect(metricTotal('SignalsWritten')).toBe(7);
    expect(metricTotal('SignalErrorsRecorded')).toBe(4);
  });

  it('a DynamoDB failure on one record reports only that record; its batch-mates succeed', async () => {
    documentMock
      .on(UpdateCommand, { Key: { pk: 'VEHICLE#veh-throttled', sk: 'SIGNAL#tractionbattery-stateofcharge' } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const ok1 = sqsRecord(stateBody('veh-a', 'evt-a'));
    const failing = sqsRecord(stateBody('veh-throttled', 'evt-t'));
    const ok2 = sqsRecord(stateBody('veh-b', 'evt-b'));

    const result = await handler()(batch(ok1, failing, ok2), context());

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: failing.messageId }] });
    expect(vehicleWrites('veh-a')).toHaveLength(3);
    expect(vehicleWrites('veh-b')).toHaveLength(3);
    // The failed event's idempotency record is released, so the retry applies it.
    expect([...idempotencyTable.values()].map((item) => item.status?.S)).toEqual(['COMPLETED', 'COMPLETED']);
    expect(metricTotal('ProcessingFailures')).toBe(1);
  });

  it('a record that keeps failing is reported on every attempt (so SQS moves it to the DLQ)', async () => {
    documentMock
      .on(UpdateCommand, { Key: { pk: 'VEHICLE#veh-throttled' } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const failing = sqsRecord(stateBody('veh-throttled', 'evt-t'));
    const ok = sqsRecord(stateBody('veh-a', 'evt-a'));
    const run = handler();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await run(batch(failing, ok), context());
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.messageId }]);
    }
  });

  it('poison bodies are reported as failures without touching the table; the good record succeeds', async () => {
    const notJson = sqsRecord('{"eventType": "VEHICLE_STATE", ');
    const noVehicle = sqsRecord(
      JSON.stringify({ eventId: 'e-1', eventType: 'VEHICLE_STATE', data: { signals: [] } }),
    );
    const good = sqsRecord(stateBody('veh-a', 'evt-a'));
    const errorSpy = vi.spyOn(logger, 'error');

    const result = await handler()(batch(notJson, good, noVehicle), context());

    expect(result.batchItemFailures).toEqual([
      { itemIdentifier: notJson.messageId },
      { itemIdentifier: noVehicle.messageId },
    ]);
    expect(vehicleWrites('veh-a')).toHaveLength(3);
    expect(documentMock.commandCalls(UpdateCommand)).toHaveLength(3);
    expect(idempotencyTable.size).toBe(1);
    expect(metricTotal('UnprocessableEvents')).toBe(2);
    const logged = JSON.stringify(errorSpy.mock.calls);
    expect(logged).toContain(noVehicle.messageId);
    expect(logged).toContain('vehicle event without a vehicle id');
  });

  it('a batch in which every record fails throws, so the whole batch is retried', async () => {
    await expect(handler()(batch(sqsRecord('nope')), context())).rejects.toThrow();
  });

  it('an event whose dedupe record has expired (past DEDUPE_TTL_SECONDS, not yet deleted by TTL) is applied again', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-old', 50, 1_000))), context());
    const [id, item] = [...idempotencyTable.entries()][0] ?? [];
    idempotencyTable.set(id ?? '', { ...item, expiration: { N: String(Math.floor(Date.now() / 1000) - 1) } });

    expect(await run(batch(sqsRecord(stateBody('veh-a', 'evt-old', 60, 2_000))), context())).toEqual({
      batchItemFailures: [],
    });
    expect(vehicleWrites('veh-a')).toHaveLength(6);
  });

  it('an event left INPROGRESS by an invocation that died is applied once its in-progress expiry has passed; not before', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-crash', 50, 1_000))), context());
    const [id, item] = [...idempotencyTable.entries()][0] ?? [];
    const leftBehind = (inProgressUntil: number) =>
      idempotencyTable.set(id ?? '', {
        ...item,
        status: { S: 'INPROGRESS' },
        in_progress_expiration: { N: String(inProgressUntil) },
      });

    // The dead invocation's time is not up yet: the record fails and SQS retries it later.
    leftBehind(Date.now() + 60_000);
    const early = sqsRecord(stateBody('veh-a', 'evt-crash', 50, 1_000));
    const blocked = await run(batch(early, sqsRecord(stateBody('veh-b', 'evt-other'))), context());
    expect(blocked).toEqual({ batchItemFailures: [{ itemIdentifier: early.messageId }] });
    expect(vehicleWrites('veh-a')).toHaveLength(3);

    // Its time is up: the redelivery applies the event (its conditional writes make the repeat safe).
    leftBehind(Date.now() - 1);
    expect(await run(batch(sqsRecord(stateBody('veh-a', 'evt-crash', 50, 1_000))), context())).toEqual({
      batchItemFailures: [],
    });
    expect(vehicleWrites('veh-a')).toHaveLength(6);
    expect(idempotencyTable.get(id ?? '')?.status?.S).toBe('COMPLETED');
  });

  it('a duplicate event (same eventId, even with other values) changes nothing', async () => {
    const run = handler();
    await run(batch(sqsRecord(stateBody('veh-a', 'evt-dup', 50, 1_000))), context());
    expect(vehicleWrites('veh-a')).toHaveLength(3);

    const result = await run(batch(sqsRecord(stateBody('veh-a', 'evt-dup', 99, 2_000))), context());

    expect(result).toEqual({ batchItemFailures: [] });
    expect(vehicleWrites('veh-a')).toHaveLength(3);
    expect(metricTotal('DuplicateEvents')).toBe(1);
    expect(metricTotal('EventsProcessed')).toBe(1);
  });

  it('two copies of one event in one batch: applied once, the copy is retried later and then skipped', async () => {
    const first = sqsRecord(stateBody('veh-a', 'evt-twice'));
    const copy = sqsRecord(stateBody('veh-a', 'evt-twice'));
    const run = handler();

    const result = await run(batch(first, copy), context());
    expect(result.batchItemFailures).toHaveLength(1);
    expect(vehicleWrites('veh-a')).toHaveLength(3);

    const retried = result.batchItemFailures[0]?.itemIdentifier === first.messageId ? first : copy;
    expect(await run(batch(retried), context())).toEqual({ batchItemFailures: [] });
    expect(vehicleWrites('veh-a')).toHaveLength(3);
  });

  it('a VEHICLE_STATE and a VEHICLE_ERROR that share an eventId are both applied', async () => {
    const run = handler();
    await run(
      batch(sqsRecord(capture('vw_id_4_all.json')), sqsRecord(capture('vw_id_4_error.json'))),
      context(),
    );
    const sks = vehicleWrites('a1d50709-3502-4faa-ba43-a5c7565e6a09').map((input) => input.Key?.sk);
    expect(sks).toContain('SIGNAL#odometer-traveleddistance');
    expect(sks).toContain('ERROR#PERMISSION#NONE');
  });

  it('older data (a failed condition) is skipped, not an error', async () => {
    documentMock
      .on(UpdateCommand, { Key: { sk: 'SIGNAL#tractionbattery-stateofcharge' } })
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );
    const result = await handler()(batch(sqsRecord(stateBody('veh-a', 'evt-old'))), context());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(metricTotal('StaleSignalsSkipped')).toBe(1);
    expect(metricTotal('SignalsWritten')).toBe(1);
  });

  it('VERIFY is ignored; TEST events go to TEST# partitions, or are dropped and counted with TEST_EVENTS=skip', async () => {
    const verify = await handler()(batch(sqsRecord(capture('vw_id_4_verify.json'))), context());
    expect(verify).toEqual({ batchItemFailures: [] });
    expect(documentMock.calls()).toHaveLength(0);
    expect(idempotencyTable.size).toBe(0);

    await handler()(batch(sqsRecord(capture('vw_id_4_test_mode.json'))), context());
    const pks = documentMock.commandCalls(UpdateCommand).map((call) => call.args[0].input.Key?.pk);
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

  it('registers the Lambda context so an in-progress record expires with the invocation', async () => {
    await handler()(batch(sqsRecord(stateBody('veh-a', 'evt-ctx'))), context());
    const put = idempotencyMock.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put?.Item?.in_progress_expiration).toBeDefined();
    expect(put?.TableName).toBe('idempotency');
  });

  it('logs identifiers and counts, never signal values or locations', async () => {
    const spies = (['debug', 'info', 'warn', 'error'] as const).map((level) => vi.spyOn(logger, level));
    documentMock
      .on(UpdateCommand, { Key: { pk: 'VEHICLE#veh-throttled' } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
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

describe('handler module', () => {
  it('fails the cold start loudly on bad configuration, naming the variable but not its value', async () => {
    vi.resetModules();
    vi.stubEnv('VEHICLE_TABLE_NAME', '');
    vi.stubEnv('IDEMPOTENCY_TABLE_NAME', 'idempotency');
    vi.stubEnv('TEST_EVENTS', 'sometimes');
    await expect(import('../../lambdas/webhook-processor/handler.js')).rejects.toThrow(
      /Invalid configuration: .*VEHICLE_TABLE_NAME.*TEST_EVENTS/,
    );
    vi.unstubAllEnvs();
  });

  it('exports a handler built from module-scope clients', async () => {
    vi.resetModules();
    vi.stubEnv('VEHICLE_TABLE_NAME', 'vehicles');
    vi.stubEnv('IDEMPOTENCY_TABLE_NAME', 'idempotency');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const module = await import('../../lambdas/webhook-processor/handler.js');
    expect(typeof module.handler).toBe('function');
    vi.unstubAllEnvs();
  });
});
