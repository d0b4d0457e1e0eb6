import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { ListQueuesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_NAMES } from '../../local/stack.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startLocalStack, type LocalStack } from '../support/local-stack.js';
import { CAPTURES_DIR as CAPTURES } from '../support/webhook-fixtures.js';
import { stateOfChargeEvent } from '../support/webhook-events.js';

/**
 * The whole pipeline through local mode, over loopback: HTTP → receiver handler → SQS emulator →
 * processor handler (event-source-mapping semantics) → DynamoDB Local → read handler.
 */

let stack: LocalStack;
let sqs: SQSClient;

beforeAll(async () => {
  stack = await startLocalStack({ LOCAL_VISIBILITY_TIMEOUT_SECONDS: '1', LOCAL_MAX_RECEIVE_COUNT: '2' });
  sqs = new SQSClient({
    endpoint: stack.sqsEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

const sign = (body: string) => createHmac('sha256', stack.managementToken).update(body).digest('hex');

/** Posts a webhook, signed with the local AMT unless a signature (or `null` for none) is given. */
async function post(body: string, signature: string | null = sign(body)) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (signature !== null) headers['sc-signature'] = signature;
  const response = await fetch(`${stack.baseUrl}/webhooks/smartcar`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface VehicleView {
  vehicleId: string;
  userId?: string;
  make?: string;
  status: string;
  signals: Record<string, { body: unknown; oemUpdatedAt?: number; status?: unknown }>;
  errors: { type: string; code: string | null }[];
}

async function getVehicle(vehicleId: string): Promise<{ status: number; body: VehicleView }> {
  const response = await fetch(`${stack.baseUrl}/vehicles/${vehicleId}`);
  return { status: response.status, body: (await response.json()) as VehicleView };
}

const stateEvent = (vehicleId: string, soc: number, oemUpdatedAt: number, eventId = randomUUID()) =>
  JSON.stringify(stateOfChargeEvent(vehicleId, { soc, oemUpdatedAt, eventId, deliveredAt: Date.now() }));

const stateOfCharge = async (vehicleId: string) => {
  const { status, body } = await getVehicle(vehicleId);
  if (status !== 200) return undefined;
  return (body.signals['tractionbattery-stateofcharge']?.body as { value: number } | undefined)?.value;
};

/** Waits until the queue is drained, so "nothing changed" assertions are meaningful. */
const settle = () => new Promise((done) => setTimeout(done, 1500));

describe('local webhook pipeline', () => {
  it('answers VERIFY with the challenge HMAC', async () => {
    const result = await post('{"eventType":"VERIFY","data":{"challenge":"local-check"}}', null);
    expect(result).toEqual({ status: 200, body: { challenge: sign('local-check') } });
  });

  it('rejects unsigned and forged events with 401', async () => {
    const body = stateEvent(randomUUID(), 10, Date.now());
    expect((await post(body, null)).status).toBe(401);
    expect((await post(body, sign(`${body} `))).status).toBe(401);
  });

  it('stores a signed capture and serves it at GET /vehicles/{id}', async () => {
    const capture = JSON.parse(readFileSync(resolve(CAPTURES, 'polestar_2_all.json'), 'utf8')) as {
      data: { vehicle: { id: string } };
      eventId: string;
    };
    capture.eventId = randomUUID();
    const result = await post(JSON.stringify(capture));
    expect(result.status).toBe(200);
    const vehicleId = capture.data.vehicle.id;
    const view = await eventually(async () => {
      const { status, body } = await getVehicle(vehicleId);
      // Profile and signals are separate conditional writes: wait until the whole event is visible.
      return status === 200 && body.make && body.signals['closure-islocked'] ? body : undefined;
    });
    expect(view).toMatchObject({ vehicleId, make: 'POLESTAR', status: 'CONNECTED' });
    expect(view.signals['closure-islocked']).toMatchObject({
      body: { value: true },
      oemUpdatedAt: 1769897392000,
    });
  });

  it('stores the README example (examples/vehicle-state.json) with its signal error next to the good values', async () => {
    const example = readFileSync(resolve(import.meta.dirname, '../../examples/vehicle-state.json'), 'utf8');
    expect((await post(example)).status).toBe(200);
    const view = await eventually(async () => {
      const { status, body } = await getVehicle('3c1e7f7a-0000-4000-8000-00000000e001');
      return status === 200 && body.make && Object.keys(body.signals).length === 4 ? body : undefined;
    });
    expect(view).toMatchObject({ make: 'VOLKSWAGEN', status: 'CONNECTED' });
    expect(view.signals['tractionbattery-stateofcharge']).toMatchObject({
      body: { value: 78, unit: 'percent' },
    });
    expect(view.signals['internalcombustionengine-fuellevel']?.status).toMatchObject({ value: 'ERROR' });
  });

  it('404 with a JSON reason for an unknown vehicle', async () => {
    const response = await fetch(`${stack.baseUrl}/vehicles/${randomUUID()}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toHaveProperty('message');
  });

  it('processes every real capture without error', async () => {
    const files = readdirSync(CAPTURES).filter((name) => name.endsWith('.json') && !name.includes('verify'));
    for (const name of files) {
      const body = JSON.parse(readFileSync(resolve(CAPTURES, name), 'utf8')) as { eventId?: string };
      body.eventId = randomUUID();
      expect((await post(JSON.stringify(body))).status, name).toBe(200);
    }
    const ids = files.map(
      (name) =>
        (JSON.parse(readFileSync(resolve(CAPTURES, name), 'utf8')) as { data: { vehicle: { id: string } } })
          .data.vehicle.id,
    );
    for (const id of new Set(ids)) {
      await eventually(async () => ((await getVehicle(id)).status === 200 ? true : undefined));
    }
  });

  it('a redelivered eventId has no second effect', async () => {
    const vehicleId = randomUUID();
    const eventId = randomUUID();
    const now = Date.now();
    expect((await post(stateEvent(vehicleId, 50, now, eventId))).status).toBe(200);
    await eventually(async () => ((await stateOfCharge(vehicleId)) === 50 ? true : undefined));
    // Same eventId, newer data: a redelivery must be recognised by its id and ignored.
    expect((await post(stateEvent(vehicleId, 99, now + 60_000, eventId))).status).toBe(200);
    await settle();
    expect(await stateOfCharge(vehicleId)).toBe(50);
  });

  it('keeps the newest value when events arrive out of order', async () => {
    const vehicleId = randomUUID();
    const now = Date.now();
    expect((await post(stateEvent(vehicleId, 70, now))).status).toBe(200);
    await eventually(async () => ((await stateOfCharge(vehicleId)) === 70 ? true : undefined));
    expect((await post(stateEvent(vehicleId, 60, now - 300_000))).status).toBe(200);
    await settle();
    expect(await stateOfCharge(vehicleId)).toBe(70);
    expect((await post(stateEvent(vehicleId, 80, now + 300_000))).status).toBe(200);
    await eventually(async () => ((await stateOfCharge(vehicleId)) === 80 ? true : undefined));
  });

  it('quarantines a poison record on its first attempt, not in the DLQ, while its batch-mates are processed', async () => {
    const poisonId = randomUUID();
    // Signed and valid JSON, but a VEHICLE_STATE without any vehicle id cannot be stored.
    const poison = JSON.stringify({ eventId: poisonId, eventType: 'VEHICLE_STATE', data: { signals: [] } });
    const goodVehicles = [randomUUID(), randomUUID(), randomUUID()];
    const now = Date.now();
    const results = await Promise.all([
      post(poison),
      ...goodVehicles.map((vehicleId, index) => post(stateEvent(vehicleId, 40 + index, now))),
    ]);
    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200]);
    for (const [index, vehicleId] of goodVehicles.entries()) {
      await eventually(async () => ((await stateOfCharge(vehicleId)) === 40 + index ? true : undefined));
    }
    const dynamo = new DynamoDBClient({
      endpoint: stack.dynamodbEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const quarantined = await eventually(async () => {
        const { Items } = await dynamo.send(
          new QueryCommand({
            TableName: LOCAL_NAMES.vehicleTable,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: 'QUARANTINE' } },
          }),
        );
        return Items?.find((item) => item.raw?.S === poison);
      });
      expect(quarantined.reason?.S).toBe('vehicle event without a vehicle id');
    } finally {
      dynamo.destroy();
    }
    // Acknowledged: it is neither retried nor parked in the DLQ (that is for failures that may succeed later).
    const queues = await sqs.send(new ListQueuesCommand({}));
    const dlqUrl = queues.QueueUrls?.find((url) => /dlq|dead/i.test(url));
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 3 }),
    );
    expect(received.Messages?.some((message) => message.Body?.includes(poisonId)) ?? false).toBe(false);
  });
});
