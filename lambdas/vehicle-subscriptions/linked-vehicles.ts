import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BY_APP_USER_INDEX } from '../vehicles/vehicle-keys.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';

/**
 * Every vehicle linked by Connect, a page at a time: a Scan of the sparse `byAppUser` index, which holds only
 * linked profiles (one small item each with the projection below), never the vehicle table's signal items.
 */
export function dynamoLinkedVehicles(
  client: DynamoDBDocumentClient,
  tableName: string,
): () => AsyncIterable<readonly string[]> {
  return async function* linkedVehicles() {
    for await (const page of paginateScan(
      { client, pageSize: 100 },
      {
        TableName: tableName,
        IndexName: BY_APP_USER_INDEX,
        ProjectionExpression: 'vehicleId, grantId, #status',
        ExpressionAttributeNames: { '#status': 'status' },
      },
    )) {
      const ids = (page.Items ?? [])
        .filter((item) => typeof item.vehicleId === 'string' && typeof item.grantId === 'string')
        .filter((item) => item.status !== DISCONNECTED)
        .map((item) => item.vehicleId as string);
      if (ids.length > 0) yield ids;
    }
  };
}
