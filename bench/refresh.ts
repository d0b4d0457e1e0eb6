import {
  BatchWriteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, WriteRequest } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../local/stand-ins/dynamodb-local.js';
import { BY_REFRESH_EXPIRY_INDEX, ensureTables } from '../local/stand-ins/dynamodb-tables.js';
import { freePort } from '../test/support/ports.js';
import { check, type Check } from './stats.js';

/**
 * Items the token refresh job reads per due grant: its selection is a Query on the sparse due-time index
 * (`dueShard = DUE AND refreshExpiresAt <= dueBy`, docs/design.md), against a Scan of the table (what a
 * job without the index pays). 1 % of the grants are due.
 */

const TOKEN_TABLE = 'bench-tokens';
const DAY_MS = 86_400_000;

export interface RefreshRow {
  readonly grants: number;
  readonly due: number;
  /** Items the index Query read (ScannedCount), summed over pages. */
  readonly queryItemsRead: number;
  readonly itemsReadPerDueGrant: number;
  readonly scanItemsReadPerDueGrant: number;
  /** `seeded`, or how the row was derived from a smaller seeded table. */
  readonly method: string;
}

async function seed(client: DynamoDBClient, grants: number, due: number, now: number): Promise<void> {
  const requests: WriteRequest[] = [];
  for (let i = 0; i < grants; i++) {
    const isDue = i < due;
    const item: Record<string, AttributeValue> = {
      grantId: { S: `bench-grant-${grants}-${i}` },
      status: { S: 'ACTIVE' },
      dueShard: { S: 'DUE' },
      version: { N: '1' },
      // Due: the refresh token runs out within the window; the others in 60 days.
      refreshExpiresAt: { N: String(now + (isDue ? DAY_MS : 60 * DAY_MS) + i) },
      accessExpiresAt: { N: String(now + 3_600_000 + i) },
    };
    requests.push({ PutRequest: { Item: item } });
  }
  for (let i = 0; i < requests.length; i += 25) {
    let batch: WriteRequest[] = requests.slice(i, i + 25);
    while (batch.length > 0) {
      const result = await client.send(new BatchWriteItemCommand({ RequestItems: { [TOKEN_TABLE]: batch } }));
      batch = result.UnprocessedItems?.[TOKEN_TABLE] ?? [];
    }
  }
}

async function countRead(client: DynamoDBClient, command: 'query' | 'scan', dueBy: number) {
  let read = 0;
  let matched = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page =
      command === 'query'
        ? await client.send(
            new QueryCommand({
              TableName: TOKEN_TABLE,
              IndexName: BY_REFRESH_EXPIRY_INDEX,
              KeyConditionExpression: 'dueShard = :due AND refreshExpiresAt <= :dueBy',
              ExpressionAttributeValues: { ':due': { S: 'DUE' }, ':dueBy': { N: String(dueBy) } },
              ExclusiveStartKey: startKey,
            }),
          )
        : await client.send(
            new ScanCommand({
              TableName: TOKEN_TABLE,
              FilterExpression: 'refreshExpiresAt <= :dueBy',
              ExpressionAttributeValues: { ':dueBy': { N: String(dueBy) } },
              ExclusiveStartKey: startKey,
            }),
          );
    read += page.ScannedCount ?? 0;
    matched += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return { read, matched };
}

/**
 * `seedLimit`: the largest table seeded for real. A larger row is derived from a table seeded with the
 * row's due grants and `seedLimit - due` others: the Query's key range holds only due grants, so the
 * grants outside it change nothing it reads; the Scan's figure scales with the table (N ÷ due).
 */
export async function benchRefresh(options: { sizes: readonly number[]; seedLimit: number }) {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const rows: RefreshRow[] = [];
  const checks: Check[] = [];
  const now = Date.now();
  const dueBy = now + 7 * DAY_MS;
  try {
    for (const grants of options.sizes) {
      const due = Math.round(grants / 100);
      const seeded = Math.min(grants, options.seedLimit);
      const table = {
        vehicleTable: 'bench-unused-v',
        idempotencyTable: 'bench-unused-i',
        tokenTable: TOKEN_TABLE,
      };
      await ensureTables(client, table);
      await seed(client, seeded, due, now);
      const query = await countRead(client, 'query', dueBy);
      const scan = await countRead(client, 'scan', dueBy);
      checks.push(
        check(
          `refresh selection finds every due grant of ${grants}`,
          query.matched === due,
          `${query.matched}/${due}`,
        ),
      );
      rows.push({
        grants,
        due,
        queryItemsRead: query.read,
        itemsReadPerDueGrant: query.read / due,
        scanItemsReadPerDueGrant: (scan.read * (grants / seeded)) / due,
        method: seeded === grants ? 'seeded' : `derived: ${due} due + ${seeded - due} others seeded`,
      });
      for (const name of Object.values(table)) await client.send(new DeleteTableCommand({ TableName: name }));
    }
    return { rows, checks };
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}
