import { paginateQuery, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { STATE_SK_RANGE } from '../vehicles/vehicle-keys.js';

/** Everything the read model needs from a vehicle partition: the PROFILE and STATE items. */
export interface VehicleItemSource {
  load(pk: string): Promise<Record<string, unknown>[]>;
}

async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateQuery({ client }, input)) items.push(...(page.Items ?? []));
  return items;
}

/**
 * Reads a vehicle with one key-range Query on its partition: `PROFILE`…`STATE` (two items; SIGNAL# items of the
 * earlier layout sort in between). The raw `EVENT#…` items (up to RAW_EVENT_TTL_DAYS of whole webhook bodies)
 * sort before PROFILE and are neither read nor billed. Eventually consistent: half the cost, and a webhook-fed
 * view is never more current than the last delivery anyway. Paginated only for a partition that still holds
 * many earlier-layout items; PROFILE and STATE together are a few kilobytes.
 */
export function dynamoVehicleItems(client: DynamoDBDocumentClient, tableName: string): VehicleItemSource {
  return {
    load(pk) {
      return queryAll(client, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': STATE_SK_RANGE.from, ':to': STATE_SK_RANGE.to },
      });
    },
  };
}
