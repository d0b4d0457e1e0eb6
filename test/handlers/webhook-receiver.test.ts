import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createReceiverHandler } from '../../lambdas/webhook-receiver/create-handler.js';
import { hmacHex } from '../../lambdas/webhook-receiver/signature.js';
import { httpEvent, type HttpHandler } from '../support/api-gateway-events.js';
import { captureOutput } from '../support/output.js';

const AMT = 'test-management-token';
const SECRET = JSON.stringify({ clientId: 'cid', clientSecret: 'csecret', managementToken: AMT });
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/webhooks';

const sqs = mockClient(SQSClient);
const secrets = mockClient(SecretsManagerClient);

let handler: HttpHandler;
const logs: string[] = [];

function request(
  body: string,
  headers: Record<string, string> = {},
  isBase64Encoded = false,
): APIGatewayProxyEventV2 {
  return httpEvent({
    routeKey: 'POST /webhooks/smartcar',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    isBase64Encoded,
  });
}

const signedEvent = (body: string, key = AMT) =>
  request(body, { 'SC-Signature': hmacHex(key, Buffer.from(body)) });
const invoke = (event: APIGatewayProxyEventV2) => handler(event, {} as Context);
const parse = (result: APIGatewayProxyStructuredResultV2) =>
  JSON.parse(String(result.body)) as Record<string, unknown>;

const stateBody = JSON.stringify({
  eventId: 'evt-1',
  eventType: 'VEHICLE_STATE',
  data: {
    vehicle: { id: 'veh-1' },
    signals: [{ code: 'location-preciselocation', body: { latitude: 48.8566, longitude: 2.3522 } }],
  },
});

beforeAll(async () => {
  vi.stubEnv('QUEUE_URL', QUEUE_URL);
  vi.stubEnv('SMARTCAR_SECRET_ID', 'smartcar/app');
  vi.stubEnv('MAX_BODY_BYTES', '1024');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  // The most verbose level, so the no-leak checks below also cover the DEBUG lines.
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
  // Powertools writes info to stdout and warnings/errors to stderr: capture both.
  captureOutput(logs);
  ({ handler } = (await import('../../lambdas/webhook-receiver/handler.js')) as { handler: HttpHandler });
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET, Name: 'smartcar/app' });
  logs.length = 0;
});

describe('webhook receiver handler', () => {
  it('queues a signed event with the raw body and attributes, then answers 200', async () => {
    const result = await invoke(signedEvent(stateBody));
    expect(result.statusCode).toBe(200);
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MessageBody: stateBody,
      MessageAttributes: {
        eventId: { DataType: 'String', StringValue: 'evt-1' },
        eventType: { DataType: 'String', StringValue: 'VEHICLE_STATE' },
        vehicleId: { DataType: 'String', StringValue: 'veh-1' },
      },
    });
  });

  it('decodes a base64 body and verifies the decoded bytes', async () => {
    const body = Buffer.from(stateBody);
    const event = request(body.toString('base64'), { 'sc-signature': hmacHex(AMT, body) }, true);
    expect((await invoke(event)).statusCode).toBe(200);
    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody).toBe(stateBody);
  });

  it('answers VERIFY with JSON content type and the challenge HMAC, queueing nothing', async () => {
    const result = await invoke(request('{"eventType":"VERIFY","data":{"challenge":"hello"}}'));
    expect(result.statusCode).toBe(200);
    expect(result.headers?.['content-type']).toBe('application/json');
    expect(parse(result)).toEqual({ challenge: hmacHex(AMT, 'hello') });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('refuses a VERIFY whose challenge is an event body (signing oracle)', async () => {
    const result = await invoke(
      request(JSON.stringify({ eventType: 'VERIFY', data: { challenge: stateBody } })),
    );
    expect(result.statusCode).toBe(400);
    expect(result.body).not.toContain(hmacHex(AMT, stateBody));
    expect(parse(result).error).toBe('invalid_challenge');
  });

  it.each([
    ['no signature', () => request(stateBody), 401, 'missing_signature'],
    ['a wrong signature', () => signedEvent(stateBody, 'not-the-amt'), 401, 'invalid_signature'],
    ['a signed body that is not a JSON object', () => signedEvent('[1,2,3]'), 400, 'invalid_body'],
    ['a body over the limit', () => signedEvent(' '.repeat(1025)), 413, 'payload_too_large'],
  ])('answers %s with a short JSON reason and queues nothing', async (_name, make, status, error) => {
    const result = await invoke(make());
    expect(result.statusCode).toBe(status);
    expect(result.headers?.['content-type']).toBe('application/json');
    expect(parse(result)).toMatchObject({ error });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('answers 413 before reading the secret or computing any HMAC', async () => {
    // A fresh container: nothing is cached yet, so reading the secret would reach Secrets Manager (counted).
    vi.resetModules();
    const fresh = (await import('../../lambdas/webhook-receiver/handler.js')) as { handler: HttpHandler };
    secrets.resetHistory();
    const big = Buffer.alloc(2000, 'a').toString('base64');
    const tooLarge = await fresh.handler(
      request(big, { 'sc-signature': 'ab'.repeat(32) }, true),
      {} as Context,
    );
    expect(tooLarge.statusCode).toBe(413);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    // The same container reads it for a body within the limit: the count above really could have been 1.
    expect((await fresh.handler(signedEvent(stateBody), {} as Context)).statusCode).toBe(200);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('answers 5xx when SQS fails, so Smartcar retries', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('ServiceUnavailable'));
    const result = await invoke(signedEvent(stateBody));
    expect(result.statusCode).toBe(503);
    expect(parse(result).error).toBe('queue_unavailable');
  });

  it('reads the secret once per container (cold start), not per request', async () => {
    vi.resetModules();
    const fresh = (await import('../../lambdas/webhook-receiver/handler.js')) as { handler: HttpHandler };
    secrets.resetHistory();
    for (let i = 0; i < 3; i++) {
      expect((await fresh.handler(signedEvent(stateBody), {} as Context)).statusCode).toBe(200);
    }
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('never logs the signature, the AMT, the body or location values', async () => {
    const event = signedEvent(stateBody);
    await invoke(event);
    await invoke(signedEvent(stateBody, 'wrong'));
    await invoke(request(stateBody));
    const output = logs.join('');
    expect(output).toContain('Webhook queued');
    expect(output).not.toContain(String(event.headers['SC-Signature']));
    expect(output).not.toContain(AMT);
    expect(output).not.toContain('48.8566');
  });

  it('carries the delivery id to the processor as a message attribute and logs both correlation ids', async () => {
    const body = JSON.stringify({ ...JSON.parse(stateBody), meta: { deliveryId: 'dlv-7' } });
    expect((await invoke(signedEvent(body))).statusCode).toBe(200);
    const attributes = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageAttributes;
    expect(attributes?.deliveryId).toEqual({ DataType: 'String', StringValue: 'dlv-7' });
    const queued = logs.find((line) => line.includes('Webhook queued')) ?? '';
    expect(JSON.parse(queued)).toMatchObject({ eventId: 'evt-1', deliveryId: 'dlv-7' });
  });

  it('counts a rejected signature in the metric the signature-failure alarm watches', async () => {
    await invoke(signedEvent(stateBody, 'a-rotated-token'));
    const emf = logs.filter((line) => line.includes('"_aws"')).join('');
    expect(emf).toContain('"WebhookSignatureFailures"');
    expect(emf).toContain('"invalid_signature"');
  });

  it('logs nothing from the body when the signature is wrong', async () => {
    await invoke(signedEvent(stateBody, 'wrong'));
    const output = logs.join('');
    expect(output).toContain('invalid_signature');
    expect(output).not.toContain('evt-1');
    expect(output).not.toContain('veh-1');
  });
});

describe("webhook receiver with the stack's placeholder secret", () => {
  const placeholder = JSON.stringify({
    clientId: 'REPLACE_ME',
    clientSecret: 'REPLACE_ME',
    managementToken: 'REPLACE_ME',
    placeholderNonce: 'x',
  });
  let fresh: HttpHandler;

  beforeEach(async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: placeholder, Name: 'smartcar/app' });
    vi.resetModules();
    ({ handler: fresh } = (await import('../../lambdas/webhook-receiver/handler.js')) as {
      handler: HttpHandler;
    });
  });

  it('answers VERIFY with 503 and signs nothing with the public placeholder', async () => {
    const result = await fresh(request('{"eventType":"VERIFY","data":{"challenge":"hello"}}'), {} as Context);
    expect(result.statusCode).toBe(503);
    expect(parse(result).error).toBe('not_configured');
    expect(result.body).not.toContain(hmacHex('REPLACE_ME', 'hello'));
  });

  it('refuses an event signed with the placeholder, queues nothing and counts the unset secret', async () => {
    const result = await fresh(signedEvent(stateBody, 'REPLACE_ME'), {} as Context);
    expect(result.statusCode).toBe(503);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    const output = logs.join('');
    expect(output).toContain('"SmartcarSecretNotConfigured"');
    expect(output).toContain('managementToken');
  });
});

describe('webhook receiver at the deployed log level (INFO)', () => {
  const accepted: string[] = [];
  const infoHandler = createReceiverHandler({
    maxBodyBytes: 1024,
    secret: { get: () => Promise.resolve({ clientId: 'c', clientSecret: 's', managementToken: AMT }) },
    queue: {
      send: (message) => {
        accepted.push(message.body);
        return Promise.resolve('m-2');
      },
    },
    logger: new Logger({ serviceName: 'webhook-receiver', logLevel: 'INFO' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'webhook-receiver' }),
  });

  it('writes no log or metric line for an accepted delivery (the queue counts them)', async () => {
    const result = await infoHandler(signedEvent(stateBody), {} as Context);
    expect(result.statusCode).toBe(200);
    expect(accepted).toEqual([stateBody]);
    expect(logs).toEqual([]);
  });

  it('still publishes the metric of a refused delivery', async () => {
    expect((await infoHandler(signedEvent(stateBody, 'wrong'), {} as Context)).statusCode).toBe(401);
    const emf = logs.filter((line) => line.includes('"_aws"')).join('');
    expect(emf).toContain('"WebhookSignatureFailures"');
  });
});

describe('webhook receiver behind the edge front (origin lock on)', () => {
  const queued: string[] = [];
  let secretReads = 0;
  const lockedHandler = (admits: (value: string | undefined) => Promise<boolean>) =>
    createReceiverHandler({
      maxBodyBytes: 1024,
      secret: {
        get: () => {
          secretReads++;
          return Promise.resolve({ clientId: 'c', clientSecret: 's', managementToken: AMT });
        },
      },
      queue: {
        send: (message) => {
          queued.push(message.body);
          return Promise.resolve('m-3');
        },
      },
      logger: new Logger({ serviceName: 'webhook-receiver', logLevel: 'INFO' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'webhook-receiver' }),
      originLock: { admits },
    });
  const viaEdge = (value: string) => (v: string | undefined) => Promise.resolve(v === value);

  beforeEach(() => {
    queued.length = 0;
    secretReads = 0;
  });

  it('accepts a delivery that carries the origin header CloudFront adds', async () => {
    const event = signedEvent(stateBody);
    event.headers['x-origin-verify'] = 'edge-value';
    expect((await lockedHandler(viaEdge('edge-value'))(event, {} as Context)).statusCode).toBe(200);
    expect(queued).toEqual([stateBody]);
  });

  it('refuses a correctly signed delivery that went around CloudFront: 403, nothing queued or verified', async () => {
    const result = await lockedHandler(viaEdge('edge-value'))(signedEvent(stateBody), {} as Context);
    expect(result.statusCode).toBe(403);
    expect(parse(result)).toMatchObject({ error: 'forbidden' });
    expect(queued).toEqual([]);
    expect(secretReads).toBe(0);
    expect(logs.filter((line) => line.includes('"_aws"')).join('')).toContain('"EdgeBypassRefused"');
  });

  it('answers 500 (Smartcar retries) when the origin secret cannot be read', async () => {
    const event = signedEvent(stateBody);
    event.headers['x-origin-verify'] = 'edge-value';
    const result = await lockedHandler(() => Promise.reject(new Error('throttled')))(event, {} as Context);
    expect(result.statusCode).toBe(500);
    expect(queued).toEqual([]);
  });
});
