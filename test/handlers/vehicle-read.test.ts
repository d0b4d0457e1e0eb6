import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, InternalServerError } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { dynamoVehicleItems } from '../../lambdas/vehicle-read/store.js';
import { createVehicleReadHandler } from '../../lambdas/vehicle-read/vehicle-read.js';

const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
);
const documentMock = mockClient(documentClient);
const logger = new Logger({ serviceName: 'vehicle-read-test', logLevel: 'SILENT' });
const handler = createVehicleReadHandler({ items: dynamoVehicleItems(documentClient, 'vehicles'), logger });

const context = { functionName: 'vehicle-read', awsRequestId: 'r-1' } as Context;

function request(vehicleId: string | undefined, query?: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'GET /vehicles/{vehicleId}',
    rawPath: `/vehicles/${vehicleId ?? ''}`,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: {},
    ...(vehicleId !== undefined && { pathParameters: { vehicleId } }),
    ...(query && { queryStringParameters: query }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: 'example.com',
      domainPrefix: 'example',
      http: {
        method: 'GET',
        path: `/vehicles/${vehicleId ?? ''}`,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'r-1',
      routeKey: 'GET /vehicles/{vehicleId}',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
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
const fuel = {
  pk,
  sk: 'SIGNAL#internalcombustionengine-fuellevel',
  code: 'internalcombustionengine-fuellevel',
  body: { value: 0.77 },
  status: { value: 'SUCCESS' },
  oemUpdatedAt: 5,
  retrievedAt: 6,
  updatedAt: 10,
};
const reauth = {
  pk,
  sk: 'ERROR#PERMISSION#NONE',
  type: 'PERMISSION',
  code: null,
  description: 'Re-authenticate',
  resolution: { type: 'REAUTHENTICATE' },
  signals: [],
  state: 'ERROR',
  at: 11,
};

beforeEach(() => {
  documentMock.reset();
  vi.restoreAllMocks();
});

describe('GET /vehicles/{vehicleId}', () => {
  it('200 with the documented JSON, read with paginated key-range Queries on the vehicle partition', async () => {
    documentMock
      .on(QueryCommand, { KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to' })
      .resolvesOnce({ Items: [profile], LastEvaluatedKey: { pk, sk: 'PROFILE' } })
      .resolvesOnce({ Items: [fuel] });
    documentMock
      .on(QueryCommand, { KeyConditionExpression: 'pk = :pk AND begins_with(sk, :errors)' })
      .resolves({ Items: [reauth] });

    const { status, body } = await get('veh-1');

    expect(status).toBe(200);
    expect(body).toEqual({
      vehicleId: 'veh-1',
      userId: 'user-1',
      make: 'BMW',
      model: '118i',
      year: 2025,
      status: 'NEEDS_REAUTH',
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
    const queries = documentMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(queries).toHaveLength(3);
    expect(
      queries.every(
        (input) => input.TableName === 'vehicles' && input.ExpressionAttributeValues?.[':pk'] === pk,
      ),
    ).toBe(true);
    // The second page continues where the first stopped.
    expect(queries.some((input) => input.ExclusiveStartKey?.sk === 'PROFILE')).toBe(true);
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
