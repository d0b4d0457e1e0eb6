import { paginateQuery, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ERROR_SK_PREFIX, STATE_SK_RANGE } from '../vehicles/vehicle-keys.js';

/** Everything the read model needs from a vehicle partition: PROFILE, SIGNAL# and ERROR# items. */
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
 * Reads a vehicle's state with two key-range Queries on its partition, in parallel and paginated:
 * `ERROR#…` and `PROFILE`…`SIGNAL#…`. The range in between holds the raw `EVENT#…` items (up to
 * RAW_EVENT_TTL_DAYS of whole webhook bodies); a single Query would read and bill all of them on every GET,
 * and a FilterExpression would still bill them. Eventually consistent reads: half the cost, and a webhook-fed
 * view is never more current than the last delivery anyway.
 */
export function dynamoVehicleItems(client: DynamoDBDocumentClient, tableName: string): VehicleItemSource {
  return {
    async load(pk) {
      const [errors, state] = await Promise.all([
        queryAll(client, {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :errors)',
          ExpressionAttributeValues: { ':pk': pk, ':errors': ERROR_SK_PREFIX },
        }),
        queryAll(client, {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': STATE_SK_RANGE.from, ':to': STATE_SK_RANGE.to },
        }),
      ]);
      return [...state, ...errors];
    },
  };
}
