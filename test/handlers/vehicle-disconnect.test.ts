import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import { dynamoVehicleLinks } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import { createDisconnectHandler } from '../../lambdas/vehicle-disconnect/create-handler.js';
import { httpEvent, invoke, type HttpHandler } from '../support/api-gateway-events.js';
import { captureOutput } from '../support/output.js';

/** DELETE /vehicles/{vehicleId} with DynamoDB mocked and the Management API answered by a stubbed fetch. */

const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
);
const dynamoMock = mockClient(documentClient);
const AMT = 'disconnect-amt';
const MANAGEMENT = 'https://management.example.test';
const NOW = 1_760_000_000_000;

type FetchStub = (url: URL, init: RequestInit) => Promise<Response>;
let fetchStub: FetchStub;
const requests: { url: URL; init: RequestInit }[] = [];
let secretFails = false;
const secret: SmartcarSecretSource = {
  get: () =>
    secretFails
      ? Promise.reject(new Error('secret unavailable'))
      : Promise.resolve({ clientId: 'c', clientSecret: 's', managementToken: AMT }),
};

let handler: HttpHandler;
const logs: string[] = [];

beforeAll(() => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.spyOn(Metrics.prototype, 'addMetric');
  captureOutput(logs);
  handler = createDisconnectHandler({
    links: dynamoVehicleLinks({
      client: documentClient,
      vehicleTableName: 'vehicles',
      tokenTableName: 'tokens',
    }),
    tokens: dynamoTokenStore({ client: documentClient, tableName: 'tokens' }),
    smartcar: smartcarGateway({
      secret,
      managementOrigin: MANAGEMENT,
      fetch: (input, init) => {
        const url = new URL(String(input));
        requests.push({ url, init: init ?? {} });
        return fetchStub(url, init ?? {});
      },
    }),
    smartcarTimeoutMs: 200,
    logger: new Logger({ serviceName: 'vehicle-disconnect-test', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'vehicle-disconnect-test' }),
    now: () => NOW,
  }) as unknown as HttpHandler;
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

const profileItem = {
  pk: 'VEHICLE#veh-1',
  sk: 'PROFILE',
  vehicleId: 'veh-1',
  appUserId: 'app-1',
  grantId: 'grant-1',
  // What the last webhook said: never trusted for the deletion (the grant's user is).
  smartcarUserId: 'sc-user-from-a-webhook',
  status: 'CONNECTED',
};

const grantItem = {
  grantId: 'grant-1',
  appUserId: 'app-1',
  smartcarUserId: 'sc-user-1',
  keyId: 'key',
  accessExpiresAt: NOW + 3_600_000,
  refreshExpiresAt: NOW + 86_400_000,
  version: 1,
  status: 'ACTIVE',
  vehicleIds: new Set(['veh-1']),
  createdAt: NOW,
  updatedAt: NOW,
};

const connections = (userIds: string[]) => () =>
  Promise.resolve(
    Response.json({
      connections: userIds.map((userId) => ({
        userId,
        vehicleId: 'veh-1',
        connectedAt: '2026-01-01T00:00:00Z',
      })),
      paging: { cursor: null },
    }),
  );

const ok = () =>
  Promise.resolve(
    new Response(JSON.stringify({ connections: [{ userId: 'sc-user-1', vehicleId: 'veh-1' }] }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    }),
  );

beforeEach(() => {
  dynamoMock.reset();
  requests.length = 0;
  logs.length = 0;
  secretFails = false;
  fetchStub = ok;
  vi.mocked(Metrics.prototype.addMetric).mockClear();
  dynamoMock.on(GetCommand, { TableName: 'vehicles' }).resolves({ Item: profileItem });
  dynamoMock.on(GetCommand, { TableName: 'tokens' }).resolves({ Item: grantItem });
  dynamoMock.on(TransactWriteCommand).resolves({});
  dynamoMock.on(DeleteCommand).resolves({});
});

const remove = (vehicleId: string) =>
  invoke(handler, httpEvent({ routeKey: 'DELETE /vehicles/{vehicleId}', pathParameters: { vehicleId } }));

describe('DELETE /vehicles/{vehicleId}', () => {
  it('deletes the connection at Smartcar with the AMT, then unlinks in one transaction and deletes the empty grant', async () => {
    const answer = await remove('veh-1');

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ vehicleId: 'veh-1', status: 'DISCONNECTED' });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.init.method).toBe('DELETE');
    expect(`${request?.url.origin}${request?.url.pathname}`).toBe(
      `${MANAGEMENT}/v2.0/management/connections`,
    );
    expect(Object.fromEntries(request?.url.searchParams ?? [])).toEqual({
      vehicle_id: 'veh-1',
      user_id: 'sc-user-1',
    });
    const headers = new Headers(request?.init.headers);
    expect(headers.get('authorization')).toBe(`Basic ${Buffer.from(`default:${AMT}`).toString('base64')}`);

    const items = dynamoMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(2);
    expect(items[0]?.Update).toMatchObject({
      TableName: 'vehicles',
      Key: { pk: 'VEHICLE#veh-1', sk: 'PROFILE' },
      UpdateExpression: 'SET #status = :disconnected, disconnectedAt = :now REMOVE grantId',
      ConditionExpression: 'attribute_exists(pk) AND grantId = :expectedGrant',
      ExpressionAttributeValues: {
        ':disconnected': 'DISCONNECTED',
        ':now': NOW,
        ':expectedGrant': 'grant-1',
      },
    });
    expect(items[1]?.Update).toMatchObject({
      TableName: 'tokens',
      Key: { grantId: 'grant-1' },
      UpdateExpression: 'DELETE vehicleIds :vehicle SET updatedAt = :now',
      ConditionExpression: 'attribute_exists(grantId)',
    });
    expect(dynamoMock.commandCalls(DeleteCommand)[0]?.args[0].input).toEqual({
      TableName: 'tokens',
      Key: { grantId: 'grant-1' },
      ConditionExpression: 'attribute_exists(grantId) AND attribute_not_exists(vehicleIds)',
    });
    expect(vi.mocked(Metrics.prototype.addMetric)).toHaveBeenCalledWith('VehiclesDisconnected', 'Count', 1);
    expect(logs.join('')).not.toContain(AMT);
  });

  it('a grant still used by another vehicle stays', async () => {
    dynamoMock
      .on(DeleteCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'in use', $metadata: {} }));
    expect((await remove('veh-1')).status).toBe(200);
  });

  it('without a grant, looks the Smartcar user up by vehicle and deletes with vehicle_id and user_id', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .resolves({ Item: { pk: 'VEHICLE#veh-1', sk: 'PROFILE', smartcarUserId: 'sc-user-from-a-webhook' } });
    fetchStub = (url, init) => (init.method === 'GET' ? connections(['sc-user-7'])() : ok());
    expect((await remove('veh-1')).status).toBe(200);
    expect(requests.map((r) => r.init.method)).toEqual(['GET', 'DELETE']);
    expect(requests[0]?.url.searchParams.get('vehicle_id')).toBe('veh-1');
    expect(Object.fromEntries(requests[1]?.url.searchParams ?? [])).toEqual({
      vehicle_id: 'veh-1',
      user_id: 'sc-user-7',
    });
    const items = dynamoMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(1);
    expect(items[0]?.Update?.ConditionExpression).toBe(
      'attribute_exists(pk) AND attribute_not_exists(grantId)',
    );
  });

  it('409 ambiguous_connection when several Smartcar users are connected and none is known: nothing deleted', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .resolves({ Item: { pk: 'VEHICLE#veh-1', sk: 'PROFILE' } });
    fetchStub = connections(['sc-user-7', 'sc-user-8']);
    const answer = await remove('veh-1');
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'ambiguous_connection' });
    expect(requests.every((r) => r.init.method === 'GET')).toBe(true);
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('never sends the management delete without user_id', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .resolves({ Item: { pk: 'VEHICLE#veh-1', sk: 'PROFILE' } });
    fetchStub = (url, init) => (init.method === 'GET' ? connections([])() : ok());
    expect((await remove('veh-1')).status).toBe(200);
    expect(requests.filter((r) => r.init.method === 'DELETE')).toHaveLength(0);
  });

  it('a re-link that lands between the revocation and the unlink stays linked: 409 vehicle_relinked', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .resolvesOnce({ Item: profileItem })
      .resolves({ Item: { ...profileItem, grantId: 'grant-2' } });
    const answer = await remove('veh-1');
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'vehicle_relinked' });
    expect(Object.fromEntries(requests[0]?.url.searchParams ?? [])).toEqual({
      vehicle_id: 'veh-1',
      user_id: 'sc-user-1',
    });
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it.each([
    [
      'a 500 JSON error',
      () => Promise.resolve(Response.json({ type: 'SERVER', code: 'INTERNAL' }, { status: 500 })),
    ],
    ['a 503 HTML page', () => Promise.resolve(new Response('<html>down</html>', { status: 503 }))],
    ['a 401 (wrong AMT)', () => Promise.resolve(Response.json({ type: 'AUTHENTICATION' }, { status: 401 }))],
    ['a network error', () => Promise.reject(new TypeError('fetch failed'))],
    [
      'no answer within the timeout',
      (_url: URL, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
        }),
    ],
  ])('502 on %s, and nothing changes locally', async (_label, stub: FetchStub) => {
    fetchStub = stub;
    const answer = await remove('veh-1');
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ error: 'smartcar_unavailable' });
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(dynamoMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('already DISCONNECTED: 200 without calling Smartcar or writing', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .resolves({ Item: { ...profileItem, status: 'DISCONNECTED', grantId: undefined } });
    const answer = await remove('veh-1');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ vehicleId: 'veh-1', status: 'DISCONNECTED' });
    expect(requests).toHaveLength(0);
    expect(dynamoMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('404 for an unknown vehicle and 400 for a malformed id, without calling Smartcar', async () => {
    dynamoMock.on(GetCommand, { TableName: 'vehicles' }).resolves({});
    expect((await remove('veh-unknown')).body).toMatchObject({ error: 'vehicle_not_found' });
    expect((await remove('veh#1')).status).toBe(400);
    expect(requests).toHaveLength(0);
  });

  it('503 when DynamoDB fails before or after Smartcar (a retry is safe), or the secret is unreadable', async () => {
    dynamoMock
      .on(GetCommand, { TableName: 'vehicles' })
      .rejects(new InternalServerError({ message: 'x', $metadata: {} }));
    expect((await remove('veh-1')).status).toBe(503);
    expect(requests).toHaveLength(0);

    dynamoMock.reset();
    dynamoMock.on(GetCommand, { TableName: 'vehicles' }).resolves({ Item: profileItem });
    dynamoMock.on(GetCommand, { TableName: 'tokens' }).resolves({ Item: grantItem });
    dynamoMock.on(TransactWriteCommand).rejects(new InternalServerError({ message: 'x', $metadata: {} }));
    expect((await remove('veh-1')).status).toBe(503);
    expect(requests).toHaveLength(1);

    secretFails = true;
    dynamoMock.on(TransactWriteCommand).resolves({});
    const answer = await remove('veh-1');
    expect(answer.status).toBe(503);
    expect(requests).toHaveLength(1);
  });

  it('a failed grant clean-up still answers 200 (the vehicle is disconnected) and is counted', async () => {
    dynamoMock.on(DeleteCommand).rejects(new InternalServerError({ message: 'x', $metadata: {} }));
    expect((await remove('veh-1')).status).toBe(200);
    expect(vi.mocked(Metrics.prototype.addMetric)).toHaveBeenCalledWith('GrantCleanupFailed', 'Count', 1);
  });
});
