import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, InternalServerError } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createConnectHandler } from '../../lambdas/oauth-connect/create-handler.js';
import { dynamoOAuthStateStore } from '../../lambdas/oauth/dynamo-oauth-state.js';
import { STATE_TTL_SECONDS } from '../../lambdas/oauth/oauth-state.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { httpEvent, invoke, type HttpHandler } from '../support/api-gateway-events.js';
import { captureOutput } from '../support/output.js';

const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
);
const documentMock = mockClient(documentClient);
const REDIRECT_URI = 'https://api.example.com/oauth/callback';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const logs: string[] = [];

let secretFails = false;
const secret: SmartcarSecretSource = {
  get: () =>
    secretFails
      ? Promise.reject(new Error('secrets manager unavailable'))
      : Promise.resolve({ clientId: 'client-1', clientSecret: 'shh', managementToken: 'amt' }),
};

let handler: HttpHandler;

beforeAll(() => {
  // The SDK builds the Connect URL from SMARTCAR_API_ORIGIN when set; these tests want Smartcar's default.
  vi.stubEnv('SMARTCAR_API_ORIGIN', '');
  captureOutput(logs);
  handler = createConnectHandler({
    states: dynamoOAuthStateStore(documentClient, 'oauth-states'),
    smartcar: smartcarGateway({ secret, redirectUri: REDIRECT_URI, mode: 'simulated' }),
    defaultScopes: ['read_vehicle_info', 'read_odometer'],
    mode: 'simulated',
    logger: new Logger({ serviceName: 'oauth-connect-test', logLevel: 'DEBUG' }),
    now: () => NOW,
  }) as unknown as HttpHandler;
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

beforeEach(() => {
  documentMock.reset();
  documentMock.on(PutCommand).resolves({});
  secretFails = false;
  logs.length = 0;
});

const post = (body: string | undefined, isBase64Encoded = false) =>
  invoke(
    handler,
    httpEvent({ routeKey: 'POST /connect', ...(body !== undefined && { body }), isBase64Encoded }),
  );

describe('POST /connect', () => {
  it('stores a single-use state bound to the user and answers the Connect URL', async () => {
    const answer = await post(JSON.stringify({ userId: 'user-42' }));

    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    const { url, state, expiresAt } = answer.body as { url: string; state: string; expiresAt: string };
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(state, 'base64url')).toHaveLength(32);
    expect(expiresAt).toBe(new Date(NOW + STATE_TTL_SECONDS * 1000).toISOString());

    const connect = new URL(url);
    expect(connect.origin + connect.pathname).toBe('https://connect.smartcar.com/oauth/authorize');
    expect(Object.fromEntries(connect.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'client-1',
      approval_prompt: 'auto',
      redirect_uri: REDIRECT_URI,
      scope: 'read_vehicle_info read_odometer',
      state,
      mode: 'simulated',
    });

    const puts = documentMock.commandCalls(PutCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.args[0].input).toEqual({
      TableName: 'oauth-states',
      Item: {
        state,
        flow: 'connect',
        appUserId: 'user-42',
        scopes: ['read_vehicle_info', 'read_odometer'],
        mode: 'simulated',
        createdAt: NOW,
        expiresAt: NOW / 1000 + STATE_TTL_SECONDS,
      },
      ConditionExpression: 'attribute_not_exists(#state)',
      ExpressionAttributeNames: { '#state': 'state' },
    });
    // The state is a credential for the callback: never in a log line.
    expect(logs.join('')).toContain('Connect started');
    expect(logs.join('')).not.toContain(state);
  });

  it('uses the requested scopes (deduplicated, required: kept) instead of the defaults', async () => {
    const answer = await post(
      JSON.stringify({ userId: 'u-1', scopes: ['read_battery', 'required:read_charge', 'read_battery'] }),
    );
    expect(answer.status).toBe(200);
    expect(new URL(answer.body.url as string).searchParams.get('scope')).toBe(
      'read_battery required:read_charge',
    );
    expect(documentMock.commandCalls(PutCommand)[0]?.args[0].input.Item?.scopes).toEqual([
      'read_battery',
      'required:read_charge',
    ]);
  });

  it('accepts a base64-encoded body', async () => {
    const answer = await post(Buffer.from(JSON.stringify({ userId: 'u-1' })).toString('base64'), true);
    expect(answer.status).toBe(200);
  });

  it.each([
    ['no body', undefined, 'invalid_body'],
    ['an empty body', '', 'invalid_body'],
    ['a non-JSON body', 'userId=u-1', 'invalid_json'],
    ['a JSON array', '["u-1"]', 'invalid_body'],
    ['no userId', '{}', 'invalid_user_id'],
    ['a numeric userId', '{"userId":42}', 'invalid_user_id'],
    ['a userId with whitespace', '{"userId":"a b"}', 'invalid_user_id'],
    ['a userId that is too long', JSON.stringify({ userId: 'u'.repeat(129) }), 'invalid_user_id'],
    ['an unknown field', '{"userId":"u-1","scope":["read_vin"]}', 'invalid_body'],
    ['scopes that are not a list', '{"userId":"u-1","scopes":"read_vin"}', 'invalid_scopes'],
    ['an empty scope list', '{"userId":"u-1","scopes":[]}', 'invalid_scopes'],
  ])('400 for %s, storing nothing', async (_label, body, error) => {
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error });
    expect(typeof answer.body.message).toBe('string');
    expect(documentMock.calls()).toHaveLength(0);
  });

  it('400 naming the unknown scopes, storing nothing', async () => {
    const answer = await post(
      JSON.stringify({ userId: 'u-1', scopes: ['read_vin', 'drive_car', 'required:fly'] }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: 'unknown_scopes',
      message: 'unknown permissions: "drive_car", "required:fly"',
    });
    expect(documentMock.calls()).toHaveLength(0);
  });

  it('413 for an oversized body', async () => {
    const answer = await post(JSON.stringify({ userId: 'u-1', pad: 'x'.repeat(10_000) }));
    expect(answer.status).toBe(413);
    expect(documentMock.calls()).toHaveLength(0);
  });

  it('503 when the state cannot be stored, without a URL', async () => {
    documentMock.on(PutCommand).rejects(new InternalServerError({ message: 'boom', $metadata: {} }));
    const answer = await post(JSON.stringify({ userId: 'u-1' }));
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({ error: 'unavailable', message: 'could not start Connect, retry later' });
  });

  it('503 when the Smartcar secret cannot be read, storing nothing', async () => {
    secretFails = true;
    const answer = await post(JSON.stringify({ userId: 'u-1' }));
    expect(answer.status).toBe(503);
    expect(documentMock.calls()).toHaveLength(0);
  });
});
