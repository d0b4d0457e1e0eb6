import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, InternalServerError } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { dynamoVehicleList } from '../../lambdas/vehicle-read/list.js';
import { dynamoVehicleItems } from '../../lambdas/vehicle-read/store.js';
import { createVehicleReadHandler } from '../../lambdas/vehicle-read/create-handler.js';
import { EMPTY_STATE, encodeState } from '../../lambdas/vehicles/vehicle-state.js';
import { httpEvent } from '../support/api-gateway-events.js';

const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
);
const documentMock = mockClient(documentClient);
const logger = new Logger({ serviceName: 'vehicle-read-test', logLevel: 'SILENT' });
const handler = createVehicleReadHandler({ items: dynamoVehicleItems(documentClient, 'vehicles'), logger });

const context = { functionName: 'vehicle-read', awsRequestId: 'r-1' } as Context;

function request(vehicleId: string | undefined, query?: Record<string, string>): APIGatewayProxyEventV2 {
  return httpEvent({
    routeKey: 'GET /vehicles/{vehicleId}',
    ...(vehicleId !== undefined && { pathParameters: { vehicleId } }),
    ...(query && { query }),
  });
}

async function get(vehicleId: string | undefined, query?: Record<string, string>) {
  const response = (await handler(request(vehicleId, query), context)) as APIGatewayProxyStructuredResultV2;
  return { status: response.statusCode, body: JSON.parse(String(response.body)) as Record<string, unknown> };
}

const pk = 'VEHICLE#veh-1';
const profile = {
  pk,
  sk: 'PROFILE',
  vehicleId: 'veh-1',
  smartcarUserId: 'user-1',
  make: 'BMW',
  model: '118i',
  year: 2025,
  updatedAt: 10,
};
/** The vehicle's STATE item as the processor writes it: one signal and one active error. */
const state = {
  pk,
  sk: 'STATE',
  ...encodeState({
    ...EMPTY_STATE,
    version: 3,
    updatedAt: 11,
    signals: {
      'internalcombustionengine-fuellevel': {
        body: { value: 0.77 },
        status: { value: 'SUCCESS' },
        oemUpdatedAt: 5,
        retrievedAt: 6,
        updatedAt: 10,
      },
    },
    errors: {
      'PERMISSION#NONE': {
        type: 'PERMISSION',
        code: null,
        description: 'Re-authenticate',
        resolution: { type: 'REAUTHENTICATE' },
        signals: [],
        state: 'ERROR',
        at: 11,
      },
    },
  }),
};

beforeEach(() => {
  documentMock.reset();
  vi.restoreAllMocks();
});

describe('GET /vehicles/{vehicleId}', () => {
  it('200 with the documented JSON, read with one key-range Query (PROFILE…SUBSCRIPTION$) on the vehicle partition', async () => {
    documentMock
      .on(QueryCommand, {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': 'PROFILE', ':to': 'SUBSCRIPTION$' },
      })
      .resolves({ Items: [profile, state] });

    const { status, body } = await get('veh-1');

    expect(status).toBe(200);
    expect(body).toEqual({
      vehicleId: 'veh-1',
      userId: 'user-1',
      appUserId: null,
      smartcarUserId: 'user-1',
      make: 'BMW',
      model: '118i',
      year: 2025,
      status: 'NEEDS_REAUTH',
      actionRequired: null,
      subscriptions: [],
      signals: {
        'internalcombustionengine-fuellevel': {
          body: { value: 0.77 },
          status: { value: 'SUCCESS' },
          oemUpdatedAt: 5,
          retrievedAt: 6,
        },
      },
      errors: [
        {
          type: 'PERMISSION',
          code: null,
          description: 'Re-authenticate',
          resolution: { type: 'REAUTHENTICATE' },
          signals: [],
        },
      ],
      updatedAt: 11,
    });
    // One request: GET /vehicles/{id} costs one Query of two small items, whatever the signal count.
    expect(documentMock.calls()).toHaveLength(1);
    expect(documentMock.commandCalls(QueryCommand)[0]?.args[0].input.TableName).toBe('vehicles');
  });

  it('follows pagination (a partition that still holds items of the earlier per-signal layout)', async () => {
    const legacy = {
      pk,
      sk: 'SIGNAL#odometer-traveleddistance',
      code: 'odometer-traveleddistance',
      body: { value: 1200 },
      status: { value: 'SUCCESS' },
      updatedAt: 9,
    };
    documentMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [profile, legacy], LastEvaluatedKey: { pk, sk: legacy.sk } })
      .resolvesOnce({ Items: [state] });
    const { body } = await get('veh-1');
    expect(Object.keys(body.signals as object).sort()).toEqual([
      'internalcombustionengine-fuellevel',
      'odometer-traveleddistance',
    ]);
    expect(documentMock.commandCalls(QueryCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual({
      pk,
      sk: legacy.sk,
    });
  });

  it('?mode=test reads the TEST partition', async () => {
    documentMock.on(QueryCommand).resolves({ Items: [] });
    documentMock
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'TEST#VEHICLE#veh-1' } })
      .resolves({ Items: [{ ...profile, pk: 'TEST#VEHICLE#veh-1' }] });
    expect((await get('veh-1', { mode: 'test' })).status).toBe(200);
    expect((await get('veh-1')).status).toBe(404);
  });

  it('404 with a JSON reason for an unknown vehicle', async () => {
    documentMock.on(QueryCommand).resolves({ Items: [] });
    const { status, body } = await get('veh-unknown');
    expect(status).toBe(404);
    expect(body).toMatchObject({ error: 'vehicle_not_found' });
  });

  it.each([
    ['missing', undefined],
    ['with the key separator', 'veh#1'],
    ['with a slash', 'a/b'],
    ['too long', 'x'.repeat(200)],
  ])('400 for a malformed id (%s), without touching DynamoDB', async (_label, vehicleId) => {
    const { status, body } = await get(vehicleId);
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_vehicle_id' });
    expect(documentMock.calls()).toHaveLength(0);
  });

  it('400 for an unknown mode', async () => {
    const { status, body } = await get('veh-1', { mode: 'staging' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_mode' });
  });

  it('503 when DynamoDB fails, with nothing internal in the body', async () => {
    documentMock.on(QueryCommand).rejects(new InternalServerError({ message: 'boom inside', $metadata: {} }));
    const { status, body } = await get('veh-1');
    expect(status).toBe(503);
    expect(JSON.stringify(body)).not.toContain('boom');
  });
});

describe('GET /vehicles?userId=', () => {
  const listHandler = createVehicleReadHandler({
    items: dynamoVehicleItems(documentClient, 'vehicles'),
    list: dynamoVehicleList(documentClient, 'vehicles'),
    logger,
  });

  async function list(query?: Record<string, string>) {
    const event = httpEvent({ routeKey: 'GET /vehicles', ...(query && { query }) });
    const response = (await listHandler(event, context)) as APIGatewayProxyStructuredResultV2;
    return {
      status: response.statusCode,
      body: JSON.parse(String(response.body)) as Record<string, unknown>,
    };
  }

  const linked = (vehicleId: string, extra: Record<string, unknown> = {}) => ({
    pk: `VEHICLE#${vehicleId}`,
    sk: 'PROFILE',
    vehicleId,
    appUserId: 'app-1',
    grantId: 'g-1',
    smartcarUserId: 'sc-1',
    make: 'KIA',
    model: 'EV6',
    year: 2024,
    status: 'CONNECTED',
    ...extra,
  });

  it("gives each entry the actionRequired of its state item's errors: a virtual key is not a re-Connect", async () => {
    documentMock.on(QueryCommand, { IndexName: 'byAppUser' }).resolves({ Items: [linked('v-1')] });
    documentMock.on(GetCommand, { Key: { pk: 'VEHICLE#v-1', sk: 'STATE' } }).resolves({
      Item: {
        errors: {
          'CONNECTED_SERVICES_ACCOUNT#VIRTUAL_KEY_REQUIRED': {
            type: 'CONNECTED_SERVICES_ACCOUNT',
            code: 'VIRTUAL_KEY_REQUIRED',
            state: 'ERROR',
            resolution: { type: 'ACTION_REQUIRED', url: 'https://example.com/virtual-key' },
            signals: [],
            at: 5,
          },
        },
      },
    });

    const { status, body } = await list({ userId: 'app-1' });

    expect(status).toBe(200);
    expect(body.vehicles).toEqual([
      expect.objectContaining({
        vehicleId: 'v-1',
        status: 'CONNECTED',
        actionRequired: {
          type: 'CONNECTED_SERVICES_ACCOUNT',
          code: 'VIRTUAL_KEY_REQUIRED',
          resolution: { type: 'ACTION_REQUIRED', url: 'https://example.com/virtual-key' },
        },
      }),
    ]);
  });

  it('queries the byAppUser index and derives each status, looking up errors only where needed', async () => {
    documentMock.on(QueryCommand, { IndexName: 'byAppUser' }).resolves({
      Items: [linked('v-1'), linked('v-2', { status: 'DISCONNECTED' }), linked('v-3', { status: undefined })],
      LastEvaluatedKey: { pk: 'VEHICLE#v-3', sk: 'PROFILE', appUserId: 'app-1', vehicleId: 'v-3' },
    });
    const errors = (state: string) => ({
      'PERMISSION#NONE': { type: 'PERMISSION', state, resolution: { type: 'REAUTHENTICATE' } },
    });
    documentMock
      .on(GetCommand, { Key: { pk: 'VEHICLE#v-1', sk: 'STATE' } })
      .resolves({ Item: { errors: errors('ERROR') } });
    documentMock
      .on(GetCommand, { Key: { pk: 'VEHICLE#v-3', sk: 'STATE' } })
      .resolves({ Item: { errors: errors('RESOLVED') } });

    const { status, body } = await list({ userId: 'app-1', limit: '3' });

    expect(status).toBe(200);
    expect(body.userId).toBe('app-1');
    expect(body.vehicles).toEqual([
      {
        vehicleId: 'v-1',
        make: 'KIA',
        model: 'EV6',
        year: 2024,
        status: 'NEEDS_REAUTH',
        actionRequired: null,
      },
      {
        vehicleId: 'v-2',
        make: 'KIA',
        model: 'EV6',
        year: 2024,
        status: 'DISCONNECTED',
        actionRequired: null,
      },
      { vehicleId: 'v-3', make: 'KIA', model: 'EV6', year: 2024, status: 'CONNECTED', actionRequired: null },
    ]);
    expect(typeof body.nextToken).toBe('string');
    const queries = documentMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(queries[0]).toMatchObject({
      TableName: 'vehicles',
      IndexName: 'byAppUser',
      KeyConditionExpression: 'appUserId = :appUserId',
      ExpressionAttributeValues: { ':appUserId': 'app-1' },
      Limit: 3,
    });
    expect(queries).toHaveLength(1);
    // DISCONNECTED wins: no error lookup for v-2. The lookups read only the state item's plain `errors`.
    const looked = documentMock.commandCalls(GetCommand).map((call) => call.args[0].input);
    expect(looked.map((input) => input.Key?.pk).sort()).toEqual(['VEHICLE#v-1', 'VEHICLE#v-3']);
    expect(looked.every((input) => input.ProjectionExpression === '#errors')).toBe(true);

    // The token continues the same user's query, and only that.
    documentMock.reset();
    documentMock.on(QueryCommand).resolves({ Items: [] });
    expect((await list({ userId: 'app-1', nextToken: body.nextToken as string })).status).toBe(200);
    expect(documentMock.commandCalls(QueryCommand)[0]?.args[0].input.ExclusiveStartKey).toEqual({
      pk: 'VEHICLE#v-3',
      sk: 'PROFILE',
      appUserId: 'app-1',
      vehicleId: 'v-3',
    });
    expect((await list({ userId: 'app-2', nextToken: body.nextToken as string })).body).toMatchObject({
      error: 'invalid_next_token',
    });
  });

  it.each([
    ['no userId', {}, 'invalid_user_id'],
    ['an empty userId', { userId: '' }, 'invalid_user_id'],
    ['a userId with spaces', { userId: 'a b' }, 'invalid_user_id'],
    ['a limit of 0', { userId: 'app-1', limit: '0' }, 'invalid_limit'],
    ['a limit above 100', { userId: 'app-1', limit: '101' }, 'invalid_limit'],
    ['a forged nextToken', { userId: 'app-1', nextToken: 'eyJwayI6IlVTRVIjeCJ9' }, 'invalid_next_token'],
  ])('400 for %s, without touching DynamoDB', async (_label, query, error) => {
    const { status, body } = await list(query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ error });
    expect(documentMock.calls()).toHaveLength(0);
  });

  it('503 when the index query or an error lookup fails', async () => {
    documentMock.on(QueryCommand).rejects(new InternalServerError({ message: 'boom', $metadata: {} }));
    expect((await list({ userId: 'app-1' })).status).toBe(503);

    documentMock.reset();
    documentMock.on(QueryCommand, { IndexName: 'byAppUser' }).resolves({ Items: [linked('v-1')] });
    documentMock.on(GetCommand).rejects(new InternalServerError({ message: 'boom', $metadata: {} }));
    const { status, body } = await list({ userId: 'app-1' });
    expect(status).toBe(503);
    expect(JSON.stringify(body)).not.toContain('boom');
  });

  it('the single-vehicle read shows the linked app user', async () => {
    documentMock.on(QueryCommand).resolves({ Items: [] });
    documentMock
      .on(QueryCommand, { KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to' })
      .resolves({ Items: [{ ...profile, appUserId: 'app-9', grantId: 'g-9', status: 'CONNECTED' }] });
    const { body } = await get('veh-1');
    expect(body).toMatchObject({ userId: 'app-9', appUserId: 'app-9', smartcarUserId: 'user-1' });
    expect(JSON.stringify(body)).not.toContain('g-9');
  });
});
