import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError,
} from '@aws-sdk/client-dynamodb';
import { EncryptCommand, KMSClient, KMSInternalException } from '@aws-sdk/client-kms';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startFakeSmartcar, type FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { createCallbackHandler, type CallbackDeps } from '../../lambdas/oauth-callback/create-handler.js';
import { smartcarCommandGateway } from '../../lambdas/commands/command-gateway.js';
import { dynamoOAuthStateStore } from '../../lambdas/oauth/dynamo-oauth-state.js';
import { smartcarGateway, type SmartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../../lambdas/tokens/kms-token-cipher.js';
import { dynamoVehicleLinks } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import { httpEvent, lambdaContext, type HttpHandler } from '../support/api-gateway-events.js';
import { freePort } from '../support/ports.js';
import { captureOutput } from '../support/output.js';

/**
 * The callback handler with DynamoDB and KMS mocked (aws-sdk-client-mock) to inject storage failures, and the
 * real `smartcar` SDK against the fake Smartcar.
 */

const CLIENT_ID = 'cb-client';
const CLIENT_SECRET = 'cb-secret';
const SUCCESS_URL = 'https://app.example.com/ok';
const FAILURE_URL = 'https://app.example.com/failed?lang=de';
const KEY_ARN = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-555555555555';
const ORIGIN_VARS = [
  'SMARTCAR_AUTH_ORIGIN',
  'SMARTCAR_API_ORIGIN',
  'SMARTCAR_MANAGEMENT_API_ORIGIN',
] as const;

const awsConfig = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient(awsConfig));
const kmsClient = new KMSClient(awsConfig);
const dynamoMock = mockClient(documentClient);
const kmsMock = mockClient(kmsClient);

let fake: FakeSmartcar;
let redirectUri: string;
let gateway: SmartcarGateway;
let metrics: Metrics;
const logs: string[] = [];
const savedEnv = new Map<string, string | undefined>();
const secret: SmartcarSecretSource = {
  get: () => Promise.resolve({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, managementToken: 'amt' }),
};

function handlerWith(overrides: Partial<CallbackDeps> = {}): HttpHandler {
  const logger = new Logger({ serviceName: 'oauth-callback-test', logLevel: 'DEBUG' });
  return createCallbackHandler({
    states: dynamoOAuthStateStore(documentClient, 'states'),
    smartcar: gateway,
    secret,
    tokens: dynamoTokenStore({
      client: documentClient,
      tableName: 'tokens',
      cipher: kmsTokenCipher(kmsClient, KEY_ARN),
    }),
    links: dynamoVehicleLinks({
      client: documentClient,
      vehicleTableName: 'vehicles',
      tokenTableName: 'tokens',
    }),
    successUrl: SUCCESS_URL,
    failureUrl: FAILURE_URL,
    smartcarTimeoutMs: 5_000,
    logger,
    metrics,
    ...overrides,
  }) as unknown as HttpHandler;
}

beforeAll(async () => {
  fake = await startFakeSmartcar({
    port: await freePort(),
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: 'amt',
  });
  for (const name of ORIGIN_VARS) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = fake.env[name];
  }
  redirectUri = `http://127.0.0.1:${await freePort()}/oauth/callback`;
  gateway = smartcarGateway({ secret, redirectUri });
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.spyOn(Metrics.prototype, 'addMetric');
  vi.spyOn(Metrics.prototype, 'addDimension');
  captureOutput(logs);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await fake?.stop();
});

const state = randomBytes(32).toString('base64url');
const stateRecord = {
  state,
  flow: 'connect',
  appUserId: 'app-user-1',
  scopes: ['read_vehicle_info'],
  mode: 'live',
  createdAt: Date.now(),
  expiresAt: Math.floor(Date.now() / 1000) + 600,
  consumedAt: Date.now(),
};

let stored: Record<string, unknown> = {};

beforeEach(() => {
  stored = {};
  dynamoMock.reset();
  kmsMock.reset();
  logs.length = 0;
  metrics = new Metrics({ namespace: 'Test', serviceName: 'oauth-callback-test' });
  vi.mocked(Metrics.prototype.addMetric).mockClear();
  vi.mocked(Metrics.prototype.addDimension).mockClear();
  // The happy defaults: the state is consumable, KMS encrypts, every write succeeds.
  dynamoMock.on(UpdateCommand, { TableName: 'states' }).resolves({ Attributes: stateRecord });
  kmsMock.on(EncryptCommand).callsFake((input: { EncryptionContext?: Record<string, string> }) => ({
    CiphertextBlob: Buffer.from(`cipher:${JSON.stringify(input.EncryptionContext)}`),
    KeyId: KEY_ARN,
  }));
  dynamoMock.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
    stored = input.Item;
    return {};
  });
  // Conditional updates of the grant answer the stored item (ReturnValues ALL_NEW).
  dynamoMock.on(UpdateCommand, { TableName: 'tokens' }).callsFake(() => ({ Attributes: stored }));
  dynamoMock.on(GetCommand).resolves({});
  dynamoMock.on(TransactWriteCommand).resolves({});
  dynamoMock.on(DeleteCommand).resolves({});
});

/** A fresh code from the fake (as if Connect had been approved) for a new user with `vehicles` vehicles. */
function codeFor(vehicles = 1): { code: string; userId: string; vehicleIds: readonly string[] } {
  return fake.createAuthorizationCode({
    redirectUri,
    vehicles: Array.from({ length: vehicles }, () => ({})),
  });
}

async function call(handler: HttpHandler, params: Record<string, string>, timeoutMs = 29_000) {
  const result = await handler(
    httpEvent({ routeKey: 'GET /oauth/callback', rawQueryString: new URLSearchParams(params).toString() }),
    lambdaContext('oauth-callback', timeoutMs),
  );
  expect(result.statusCode).toBe(302);
  expect(result.headers?.['cache-control']).toBe('no-store');
  expect(result.headers?.['referrer-policy']).toBe('no-referrer');
  return new URL(String(result.headers?.location));
}

function expectFailure(location: URL, reason: string) {
  expect(location.origin + location.pathname).toBe('https://app.example.com/failed');
  expect(Object.fromEntries(location.searchParams)).toEqual({ lang: 'de', reason });
}

function failureMetric(reason: string) {
  expect(vi.mocked(Metrics.prototype.addMetric)).toHaveBeenCalledWith('ConnectFailed', 'Count', 1);
  expect(vi.mocked(Metrics.prototype.addDimension)).toHaveBeenCalledWith('reason', reason);
}

const tokenCalls = () => fake.calls.filter((c) => c.route === 'token').length;

describe('GET /oauth/callback with injected failures', () => {
  it('stores the grant PENDING right after the exchange, completes it, links nothing and redirects with a connectId', async () => {
    const { code, userId, vehicleIds } = codeFor(2);
    const location = await call(handlerWith(), { code, state });

    const put = dynamoMock.commandCalls(PutCommand)[0]?.args[0].input;
    expect(put?.ConditionExpression).toBe('attribute_not_exists(grantId)');
    const grantId = put?.Item?.grantId as string;
    expect(location.toString()).toContain('https://app.example.com/ok');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      status: 'pending',
      connectId: grantId,
      vehicles: '2',
    });
    const consume = dynamoMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(consume).toMatchObject({
      TableName: 'states',
      Key: { state },
      ConditionExpression:
        'attribute_exists(#state) AND #flow = :connect AND attribute_not_exists(consumedAt) AND expiresAt > :nowSeconds',
      ReturnValues: 'ALL_NEW',
    });
    expect(put?.Item).toMatchObject({
      appUserId: 'app-user-1',
      version: 1,
      status: 'PENDING',
      // Out of the refresh job's partition of the due indexes.
      dueShard: 'PENDING',
      keyId: KEY_ARN,
    });
    expect(put?.Item?.connectExpiresAt).toBeGreaterThan(Date.now() + 14 * 60_000);
    expect(put?.Item?.smartcarUserId).toBeUndefined();
    const contexts = kmsMock.commandCalls(EncryptCommand).map((c) => c.args[0].input.EncryptionContext);
    expect(contexts).toEqual(
      expect.arrayContaining([
        { grantId, appUserId: 'app-user-1', tokenType: 'access' },
        { grantId, appUserId: 'app-user-1', tokenType: 'refresh' },
      ]),
    );
    const completion = dynamoMock
      .commandCalls(UpdateCommand, { TableName: 'tokens' })
      .map((c) => c.args[0].input)[0];
    expect(completion?.Key).toEqual({ grantId });
    expect(completion?.ConditionExpression).toBe('attribute_exists(grantId) AND #status = :pending');
    expect(completion?.ExpressionAttributeValues?.[':user']).toBe(userId);
    expect(completion?.ExpressionAttributeValues?.[':vehicles']).toEqual(new Set(vehicleIds));
    // Nothing is linked: no profile is touched before the confirm.
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    // Exchange, user and one vehicle page: no per-vehicle call.
    const afterExchange = fake.calls.slice(fake.calls.findIndex((c) => c.code === code));
    expect(afterExchange.map((c) => c.route).sort()).toEqual(['token', 'user', 'vehicles']);
  });

  it('reads the granted permissions once per grant (one call more) and stores them with the completion', async () => {
    const commands = smartcarCommandGateway();
    const { code, vehicleIds } = codeFor(2);
    const location = await call(
      handlerWith({
        grantedPermissions: (accessToken, vehicleId, limit) =>
          commands.permissions(vehicleId, accessToken, limit.budget()),
      }),
      { code, state },
    );
    expect(location.searchParams.get('status')).toBe('pending');
    const afterExchange = fake.calls.slice(fake.calls.findIndex((c) => c.code === code));
    expect(afterExchange.map((c) => c.route).sort()).toEqual(['permissions', 'token', 'user', 'vehicles']);
    const completion = dynamoMock
      .commandCalls(UpdateCommand, { TableName: 'tokens' })
      .map((c) => c.args[0].input)[0];
    expect(completion?.ExpressionAttributeValues?.[':vehicles']).toEqual(new Set(vehicleIds));
    expect(completion?.UpdateExpression).toContain('#permissions = :permissions');
    expect(completion?.ExpressionAttributeNames?.['#permissions']).toBe('permissions');
    // The fake's default Connect scope.
    expect(completion?.ExpressionAttributeValues?.[':permissions']).toEqual([
      'read_vehicle_info',
      'read_vin',
    ]);
  });

  it('stores the grant without permissions when reading them fails (the command Lambda reads them later)', async () => {
    const { code } = codeFor(1);
    const location = await call(
      handlerWith({ grantedPermissions: () => Promise.reject(new Error('permissions down')) }),
      { code, state },
    );
    expect(location.searchParams.get('status')).toBe('pending');
    const completion = dynamoMock
      .commandCalls(UpdateCommand, { TableName: 'tokens' })
      .map((c) => c.args[0].input)[0];
    expect(completion?.UpdateExpression).not.toContain('permissions');
    expect(logs.join('')).toContain('Could not read the granted permissions');
  });

  it('KMS down: storage_failed, and nothing is written that could point to a missing grant', async () => {
    kmsMock.on(EncryptCommand).rejects(new KMSInternalException({ message: 'kms down', $metadata: {} }));
    const { code, userId, vehicleIds } = codeFor(2);
    const location = await call(handlerWith(), { code, state });
    expectFailure(location, 'storage_failed');
    expect(dynamoMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    failureMetric('storage_failed');
    expect(logs.join('')).toContain('Could not store the Connect result');
    // No orphan: the connections Smartcar just created are revoked, each with vehicle_id AND user_id.
    const revoked = fake.calls
      .filter((c) => c.route === 'management' && c.method === 'DELETE')
      .map((c) => c.query);
    expect(revoked).toEqual(
      expect.arrayContaining(vehicleIds.map((vehicleId) => ({ vehicle_id: vehicleId, user_id: userId }))),
    );
    expect(fake.connections().filter((c) => c.userId === userId)).toEqual([]);
  });

  it('the grant Put fails: storage_failed, no vehicle is linked, the new connection is revoked', async () => {
    dynamoMock.on(PutCommand).rejects(new InternalServerError({ message: 'ddb down', $metadata: {} }));
    const { code, userId } = codeFor(1);
    expectFailure(await call(handlerWith(), { code, state }), 'storage_failed');
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(fake.connections().filter((c) => c.userId === userId)).toEqual([]);
  });

  it('storage and revocation both failing: counted as ConnectOrphaned (the alarm) and logged', async () => {
    dynamoMock.on(PutCommand).rejects(new InternalServerError({ message: 'ddb down', $metadata: {} }));
    fake.setDown(true);
    try {
      const { code, userId } = codeFor(1);
      expectFailure(await call(handlerWith(), { code, state }), 'storage_failed');
      expect(vi.mocked(Metrics.prototype.addMetric)).toHaveBeenCalledWith('ConnectOrphaned', 'Count', 1);
      expect(fake.connections().filter((c) => c.userId === userId)).toHaveLength(1);
    } finally {
      fake.setDown(false);
    }
  });

  it('the vehicle list failing after the exchange: the grant stays stored, its window cut to now (the expiry job revokes it)', async () => {
    const { code } = (() => {
      const issued = fake.createAuthorizationCode({ redirectUri, vehicles: [{}], failVehicleList: true });
      return issued;
    })();
    expectFailure(await call(handlerWith(), { code, state }), 'smartcar_unavailable');
    const grantId = dynamoMock.commandCalls(PutCommand)[0]?.args[0].input.Item?.grantId as string;
    const expire = dynamoMock
      .commandCalls(UpdateCommand, { TableName: 'tokens' })
      .map((c) => c.args[0].input)
      .find((input) => input.UpdateExpression?.startsWith('SET connectExpiresAt = :now'));
    expect(expire?.Key).toEqual({ grantId });
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('with confirmation off, the completion failing is storage_failed and the pending grant is expired now', async () => {
    dynamoMock
      .on(UpdateCommand, { TableName: 'tokens' })
      .rejects(new InternalServerError({ message: 'ddb down', $metadata: {} }));
    const { code } = codeFor(1);
    expectFailure(await call(handlerWith({ confirmation: 'off' }), { code, state }), 'storage_failed');
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('the state table failing: temporarily_unavailable and no code exchange', async () => {
    dynamoMock
      .on(UpdateCommand, { TableName: 'states' })
      .rejects(new InternalServerError({ message: 'x', $metadata: {} }));
    const { code } = codeFor(1);
    const before = tokenCalls();
    expectFailure(await call(handlerWith(), { code, state }), 'temporarily_unavailable');
    expect(tokenCalls()).toBe(before);
  });

  it('a state that does not pass the condition: invalid_state and no code exchange', async () => {
    dynamoMock
      .on(UpdateCommand, { TableName: 'states' })
      .rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    const { code } = codeFor(1);
    const before = tokenCalls();
    expectFailure(await call(handlerWith(), { code, state }), 'invalid_state');
    expect(tokenCalls()).toBe(before);
    failureMetric('invalid_state');
  });

  it('a malformed or repeated state never reaches DynamoDB', async () => {
    const handler = handlerWith();
    expectFailure(await call(handler, { code: 'c', state: 'x'.repeat(600) }), 'invalid_state');
    const repeated = await handler(
      httpEvent({ routeKey: 'GET /oauth/callback', rawQueryString: `code=c&state=${state}&state=${state}` }),
      lambdaContext(),
    );
    expectFailure(new URL(String(repeated.headers?.location)), 'invalid_state');
    expect(dynamoMock.calls()).toHaveLength(0);
  });

  it('a repeated code after a valid state: invalid_request, no exchange', async () => {
    const before = tokenCalls();
    const result = await handlerWith()(
      httpEvent({ routeKey: 'GET /oauth/callback', rawQueryString: `code=a&code=b&state=${state}` }),
      lambdaContext(),
    );
    expectFailure(new URL(String(result.headers?.location)), 'invalid_request');
    expect(tokenCalls()).toBe(before);
  });

  it('imposes its own timeout on Smartcar calls (the SDK would wait 310 s)', async () => {
    const never = new Promise<never>(() => undefined);
    const hangingExchange: SmartcarGateway = {
      ...gateway,
      exchangeCode: (_code, limit) => limit.run('exchangeCode', () => never),
    };
    const started = Date.now();
    expectFailure(
      await call(handlerWith({ smartcar: hangingExchange, smartcarTimeoutMs: 100 }), { code: 'c', state }),
      'exchange_failed',
    );
    expect(Date.now() - started).toBeLessThan(2_000);

    const hangingVehicles: SmartcarGateway = {
      ...gateway,
      listVehicleIds: (_token, limit) => limit.run('getVehicles', () => never),
    };
    // The invocation's own remaining time caps it too: 5.2 s left minus the 5 s storage reserve.
    const { code } = codeFor(1);
    const again = Date.now();
    expectFailure(
      await call(handlerWith({ smartcar: hangingVehicles }), { code, state }, 5_200),
      'smartcar_unavailable',
    );
    expect(Date.now() - again).toBeLessThan(2_000);
    // Stored before the vehicle list: the expiry job can revoke what the exchange created.
    expect(dynamoMock.commandCalls(PutCommand)).toHaveLength(1);
  });

  it('never logs the code, the state or a token, not even with POWERTOOLS_LOGGER_LOG_EVENT=true', async () => {
    vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', 'true');
    try {
      const { code } = codeFor(1);
      const issued: string[] = [];
      const realFetch = globalThis.fetch;
      const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
        const response = await realFetch(input, init);
        const url = input instanceof Request ? input.url : String(input);
        if (url.startsWith(`${fake.url}/oauth/token`) && response.ok) {
          const body = (await response.clone().json()) as { access_token: string; refresh_token: string };
          issued.push(body.access_token, body.refresh_token);
        }
        return response;
      });
      try {
        // Once successfully, once failing after the exchange (KMS down).
        expect((await call(handlerWith(), { code, state })).searchParams.get('status')).toBe('pending');
        kmsMock.on(EncryptCommand).rejects(new KMSInternalException({ message: 'down', $metadata: {} }));
        const second = codeFor(1);
        expectFailure(await call(handlerWith(), { code: second.code, state }), 'storage_failed');
        issued.push(second.code);
      } finally {
        spy.mockRestore();
      }
      expect(issued.length).toBeGreaterThanOrEqual(5);
      const text = logs.join('');
      expect(text).toContain('Connect waiting for confirmation');
      for (const secretValue of [...issued, code, state]) expect(text).not.toContain(secretValue);
    } finally {
      // Back to unset (an empty value is not a boolean to Powertools: later Loggers would refuse it).
      vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', undefined);
    }
  });
});

describe('GET /oauth/callback behind the edge front (origin lock on)', () => {
  const lockedCall = (admits: (value: string | undefined) => Promise<boolean>, headers = {}) =>
    handlerWith({ originLock: { admits } })(
      httpEvent({
        routeKey: 'GET /oauth/callback',
        rawQueryString: new URLSearchParams({ code: 'c-1', state }).toString(),
        headers,
      }),
      lambdaContext('oauth-callback', 29_000),
    );

  it('refuses a request that went around CloudFront before its state is spent', async () => {
    const exchangesBefore = tokenCalls();
    const result = await lockedCall((value) => Promise.resolve(value === 'edge-value'));
    expect(result.statusCode).toBe(403);
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(tokenCalls()).toBe(exchangesBefore);
  });

  it('sends the owner to the failure page, spending nothing, when the origin secret cannot be read', async () => {
    const result = await lockedCall(() => Promise.reject(new Error('throttled')), {
      'x-origin-verify': 'edge-value',
    });
    expect(result.statusCode).toBe(302);
    expectFailure(new URL(String(result.headers?.location)), 'temporarily_unavailable');
    expect(dynamoMock.calls()).toHaveLength(0);
  });

  it('goes on as usual with the header CloudFront adds', async () => {
    const { code } = codeFor();
    const result = await handlerWith({
      originLock: { admits: (value) => Promise.resolve(value === 'edge-value') },
    })(
      httpEvent({
        routeKey: 'GET /oauth/callback',
        rawQueryString: new URLSearchParams({ code, state }).toString(),
        headers: { 'x-origin-verify': 'edge-value' },
      }),
      lambdaContext('oauth-callback', 29_000),
    );
    expect(result.statusCode).toBe(302);
    expect(String(result.headers?.location)).toMatch(/^https:\/\/app\.example\.com\/ok/);
  });
});
