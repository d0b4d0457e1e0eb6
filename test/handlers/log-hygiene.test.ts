import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { loadProcessorConfig } from '../../lambdas/webhook-processor/config.js';
import { createProcessorHandler } from '../../lambdas/webhook-processor/create-handler.js';
import { createReceiverHandler } from '../../lambdas/webhook-receiver/create-handler.js';
import { hmacHex } from '../../lambdas/webhook-receiver/signature.js';
import { httpEvent, lambdaContext, type HttpHandler } from '../support/api-gateway-events.js';
import { sqsRecord } from '../support/sqs-events.js';
import { captureOutput } from '../support/output.js';

/**
 * Whatever arrives, nothing secret reaches a log line (identifiers such as event and vehicle ids are logged on
 * purpose): the real receiver and processor, at DEBUG and with
 * POWERTOOLS_LOGGER_LOG_EVENT on, are fed hostile requests that carry the secrets themselves, and everything
 * they print (logs and metrics, stdout and stderr) is scanned.
 */

const AMT = 'amt-5f0c2a9e-current';
const PREVIOUS_AMT = 'amt-77d1b3c4-previous';
const CLIENT_SECRET = 'client-secret-9a8b7c6d';
const ACCESS_TOKEN = 'access-token-0f1e2d3c4b5a';
const REFRESH_TOKEN = 'refresh-token-a1b2c3d4e5f6';
/** Precise coordinates: never logged (only identifiers and counts are). */
const LATITUDE = '48.858370';
const LONGITUDE = '2.294481';

const FORBIDDEN = [AMT, PREVIOUS_AMT, CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, LATITUDE, LONGITUDE];

const output: string[] = [];
const secret: SmartcarSecretSource = {
  get: async () => ({
    clientId: 'client-id',
    clientSecret: CLIENT_SECRET,
    managementToken: AMT,
    previousManagementToken: PREVIOUS_AMT,
  }),
};

/** A body that carries every secret and a precise location, as a hostile (or confused) sender might. */
function hostileBody(eventId: string): string {
  return JSON.stringify({
    eventId,
    eventType: 'VEHICLE_STATE',
    meta: { deliveryId: `dlv-${eventId}`, deliveredAt: 1_800_000_000_000 },
    data: {
      user: { id: 'user-1', accessToken: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN },
      vehicle: { id: '3c1e7f7a-0000-4000-8000-00000000e0aa', make: CLIENT_SECRET, model: AMT },
      signals: [
        {
          code: 'location-preciselocation',
          name: 'PreciseLocation',
          group: 'Location',
          body: { latitude: Number(LATITUDE), longitude: Number(LONGITUDE), note: REFRESH_TOKEN },
          meta: { oemUpdatedAt: '2026-12-01T10:00:00Z', retrievedAt: '2026-12-01T10:00:01Z' },
        },
        { code: AMT, body: { value: ACCESS_TOKEN } },
      ],
    },
  });
}

let receiver: HttpHandler;
const dynamoClient = new DynamoDBClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
  marshallOptions: { removeUndefinedValues: true },
});
const lowLevel = mockClient(dynamoClient);
const documents = mockClient(documentClient);
let queueFails = false;
const queued: { body: string; attributes: Record<string, unknown> }[] = [];

beforeAll(() => {
  vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', 'true');
  vi.stubEnv('POWERTOOLS_DEV', 'false');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  captureOutput(output);
  vi.spyOn(console, 'log').mockImplementation(
    (...args: unknown[]) => void output.push(args.map(String).join(' ')),
  );
  receiver = createReceiverHandler({
    maxBodyBytes: 64 * 1024,
    secret,
    queue: {
      send: async (message) => {
        if (queueFails) throw new Error('ServiceUnavailable');
        queued.push({ body: message.body, attributes: { ...message.attributes } });
        return `m-${queued.length}`;
      },
    },
    logger: new Logger({ serviceName: 'webhook-receiver', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'webhook-receiver' }),
  }) as unknown as HttpHandler;
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

beforeEach(() => {
  output.length = 0;
  queued.length = 0;
  queueFails = false;
  lowLevel.reset();
  documents.reset();
  lowLevel.on(PutItemCommand).resolves({});
  lowLevel.on(UpdateItemCommand).resolves({});
  documents.on(UpdateCommand).resolves({});
  documents.on(PutCommand).resolves({});
});

function expectClean(): void {
  const text = output.join('\n');
  expect(text.length).toBeGreaterThan(0);
  for (const value of FORBIDDEN) expect(text, `a log line contains ${value}`).not.toContain(value);
}

const post = (body: string, headers: Record<string, string> = {}, isBase64Encoded = false) =>
  receiver(
    httpEvent({
      routeKey: 'POST /webhooks/smartcar',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ACCESS_TOKEN}`, ...headers },
      body,
      isBase64Encoded,
    }),
    lambdaContext('webhook-receiver'),
  );

describe('no secret, token, signature or precise location in any log line', () => {
  it('receiver: signed, wrongly signed, unsigned, base64, VERIFY, oversized and unqueueable requests', async () => {
    const body = hostileBody('e-1');
    const signature = hmacHex(AMT, body);
    const wrong = hmacHex(CLIENT_SECRET, body);
    await post(body, { 'sc-signature': signature });
    await post(body, { 'sc-signature': hmacHex(PREVIOUS_AMT, body) });
    await post(body, { 'sc-signature': wrong });
    await post(body, { 'sc-signature': `${AMT} ${REFRESH_TOKEN}` });
    await post(body);
    await post(Buffer.from(body).toString('base64'), { 'sc-signature': signature }, true);
    await post(JSON.stringify({ eventType: 'VERIFY', data: { challenge: AMT } }));
    await post(JSON.stringify({ eventType: 'VERIFY', data: { challenge: body } }));
    await post(`{"not json ${ACCESS_TOKEN}`, { 'sc-signature': hmacHex(AMT, `{"not json ${ACCESS_TOKEN}`) });
    await post(`${CLIENT_SECRET}`.repeat(5000), { 'sc-signature': signature });
    queueFails = true;
    await post(body, { 'sc-signature': signature });
    expect(queued).toHaveLength(3);
    expectClean();
    const text = output.join('\n');
    for (const value of [signature, wrong, hmacHex(AMT, AMT)]) expect(text).not.toContain(value);
    // The correlation ids are there.
    expect(text).toContain('"deliveryId":"dlv-e-1"');
  });

  it('processor: applied, duplicate-looking and unprocessable events, with DynamoDB failing too', async () => {
    const processor = createProcessorHandler({
      config: loadProcessorConfig({ VEHICLE_TABLE_NAME: 'vehicles' }),
      documentClient,
      logger: new Logger({ serviceName: 'webhook-processor', logLevel: 'DEBUG' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'webhook-processor' }),
    });
    const record = (body: string, n: number) =>
      sqsRecord(body, { messageId: `m-${n}`, sentAt: 1_800_000_000_000, deliveryId: `dlv-${n}` });
    const bodies = [
      hostileBody('p-1'),
      JSON.stringify({
        eventType: 'VEHICLE_STATE',
        eventId: 'p-2',
        data: { vehicle: { id: 'not/a valid id' }, token: ACCESS_TOKEN },
      }),
      `not json ${REFRESH_TOKEN} ${LATITUDE}`,
      JSON.stringify({
        eventName: 'eventBased',
        payload: { vehicleId: 'v-2', accessToken: ACCESS_TOKEN, lat: LATITUDE },
      }),
    ];
    const event: SQSEvent = { Records: bodies.map(record) };
    const first = await processor(event, lambdaContext('webhook-processor'));
    documents.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    lowLevel.reset();
    lowLevel.onAnyCommand().resolves({});
    // Every record of this batch fails: Powertools Batch throws, so Lambda retries the whole batch.
    await expect(
      processor({ Records: [record(hostileBody('p-5'), 5)] }, lambdaContext('webhook-processor')),
    ).rejects.toThrow(/records of the batch failed/);
    expect(first.batchItemFailures.length).toBeGreaterThan(0);
    expectClean();
    expect(output.join('\n')).toContain('"deliveryId":"dlv-1"');
  });
});
