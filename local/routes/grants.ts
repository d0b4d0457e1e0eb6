import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyHandlerV2 } from 'aws-lambda';
import { json } from '../../lambdas/runtime/http.js';

/**
 * `GET /local/grants[?userId=]` (local only): what the token table holds about each grant — never the
 * ciphertexts — so someone trying local mode can watch a refresh rotate a grant (new `version`, new expiries).
 * In AWS the same is a look at the token table in the console; no deployed route exposes grants.
 * A Scan is fine here: a local table holds a handful of grants.
 */
const VISIBLE = [
  'grantId',
  'appUserId',
  'smartcarUserId',
  'status',
  'version',
  'vehicleIds',
  'scopes',
  'accessExpiresAt',
  'refreshExpiresAt',
  'createdAt',
  'updatedAt',
  'needsReauthReason',
  'connectExpiresAt',
  'pendingVehicleIds',
  'connectVehicleIds',
] as const;

const iso = (value: unknown) => (typeof value === 'number' ? new Date(value).toISOString() : value);

export function grantsRoute(options: { endpoint: string; region: string; tableName: string }): {
  handler: APIGatewayProxyHandlerV2;
  stop(): void;
} {
  const client = new DynamoDBClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const documents = DynamoDBDocumentClient.from(client);
  const handler: APIGatewayProxyHandlerV2 = async (event) => {
    const userId = event.queryStringParameters?.userId;
    const grants: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new ScanCommand({ TableName: options.tableName, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) {
        if (userId !== undefined && item.appUserId !== userId) continue;
        const grant: Record<string, unknown> = {};
        for (const name of VISIBLE) {
          const value: unknown = item[name];
          if (value === undefined) continue;
          grant[name] = value instanceof Set ? [...(value as Set<unknown>)] : value;
        }
        for (const time of [
          'accessExpiresAt',
          'refreshExpiresAt',
          'createdAt',
          'updatedAt',
          'connectExpiresAt',
        ]) {
          if (grant[time] !== undefined) grant[time] = iso(grant[time]);
        }
        grants.push(grant);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return json(200, { grants });
  };
  return { handler, stop: () => client.destroy() };
}
