import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ScanCommand,
  UpdateItemCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';

/**
 * Table names. The OAuth tables are optional so that callers that only need the webhook tables (some tests) can
 * leave them out: a table whose name is not given is not created.
 */
export interface TableNames {
  readonly vehicleTable: string;
  readonly idempotencyTable: string;
  /** Single-use OAuth `state` records (partition key `state`, TTL `expiresAt`). */
  readonly oauthStateTable?: string;
  /** Grants with KMS-encrypted token pairs (partition key `grantId`). */
  readonly tokenTable?: string;
}

/** The vehicle table's GSI (docs/design.md, "Vehicle profile additions"); same name as lambdas/vehicles/vehicle-links.ts. */
export const BY_APP_USER_INDEX = 'byAppUser';

const byAppUserIndex: GlobalSecondaryIndex = {
  IndexName: BY_APP_USER_INDEX,
  KeySchema: [
    { AttributeName: 'appUserId', KeyType: 'HASH' },
    { AttributeName: 'vehicleId', KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
};

/**
 * The token table's sparse due-time GSIs (docs/design.md, "Selection: an index keyed by due time"); same names as
 * lambdas/tokens/token-store.ts. Partition key `dueShard` (the constant `DUE`, only on ACTIVE grants).
 */
export const BY_REFRESH_EXPIRY_INDEX = 'byRefreshExpiry';
export const BY_ACCESS_EXPIRY_INDEX = 'byAccessExpiry';
const DUE_SHARD = 'DUE';

/**
 * Keys + `version` (a run claims without reading the item first) + the other expiry (the index's own sort key
 * is projected anyway, as a key). Identical to the CDK definition.
 */
function dueIndex(indexName: string, sortKey: 'refreshExpiresAt' | 'accessExpiresAt'): GlobalSecondaryIndex {
  const other = sortKey === 'refreshExpiresAt' ? 'accessExpiresAt' : 'refreshExpiresAt';
  return {
    IndexName: indexName,
    KeySchema: [
      { AttributeName: 'dueShard', KeyType: 'HASH' },
      { AttributeName: sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['version', other] },
  };
}

interface TableDefinition {
  readonly input: CreateTableCommandInput;
  readonly ttlAttribute?: string;
}

/**
 * The tables of docs/design.md, with the same keys, indexes and TTL attributes as lib/ creates in AWS.
 * Kept deliberately next to local mode: CDK describes them for AWS, this describes them for DynamoDB Local.
 */
export function tableDefinitions(names: TableNames): TableDefinition[] {
  const tables: TableDefinition[] = [
    {
      input: {
        TableName: names.vehicleTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'appUserId', AttributeType: 'S' },
          { AttributeName: 'vehicleId', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [byAppUserIndex],
      },
      ttlAttribute: 'expiresAt',
    },
    {
      input: {
        TableName: names.idempotencyTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      },
      ttlAttribute: 'expiration',
    },
  ];
  if (names.oauthStateTable !== undefined) {
    tables.push({
      input: {
        TableName: names.oauthStateTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'state', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'state', KeyType: 'HASH' }],
      },
      ttlAttribute: 'expiresAt',
    });
  }
  if (names.tokenTable !== undefined) {
    tables.push({
      input: {
        TableName: names.tokenTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'grantId', AttributeType: 'S' },
          { AttributeName: 'dueShard', AttributeType: 'S' },
          { AttributeName: 'refreshExpiresAt', AttributeType: 'N' },
          { AttributeName: 'accessExpiresAt', AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: 'grantId', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          dueIndex(BY_REFRESH_EXPIRY_INDEX, 'refreshExpiresAt'),
          dueIndex(BY_ACCESS_EXPIRY_INDEX, 'accessExpiresAt'),
        ],
      },
    });
  }
  return tables;
}

const INDEX_WAIT_MS = 30_000;

/** Waits until every index of `names` on the table exists and is ACTIVE. */
async function waitForIndexes(client: DynamoDBClient, tableName: string, names: readonly string[]) {
  const deadline = Date.now() + INDEX_WAIT_MS;
  for (;;) {
    const table = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    const statuses = (table?.GlobalSecondaryIndexes ?? []).filter(
      (index) => index.IndexName !== undefined && names.includes(index.IndexName),
    );
    if (statuses.length === names.length && statuses.every((index) => index.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline) throw new Error(`indexes of ${tableName} did not become ACTIVE`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Adds the GSIs of `input` that an existing table lacks (a `.local/` database created by an older version of this project),
 * one UpdateTable per index as DynamoDB requires, each after the previous one is ACTIVE (DynamoDB refuses a
 * second index creation while one is still being built).
 */
async function ensureIndexes(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  const wanted = input.GlobalSecondaryIndexes ?? [];
  if (wanted.length === 0) return;
  const described = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
  const existing = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of wanted) {
    if (existing.has(index.IndexName)) continue;
    const keyNames = new Set((index.KeySchema ?? []).map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: input.TableName,
        AttributeDefinitions: (input.AttributeDefinitions ?? []).filter((definition) =>
          keyNames.has(definition.AttributeName),
        ),
        GlobalSecondaryIndexUpdates: [
          {
            Create: { IndexName: index.IndexName, KeySchema: index.KeySchema, Projection: index.Projection },
          },
        ],
      }),
    );
    await waitForIndexes(client, input.TableName ?? '', [index.IndexName ?? '']);
  }
  await waitForIndexes(
    client,
    input.TableName ?? '',
    wanted.map((index) => index.IndexName ?? ''),
  );
}

/** Creates the tables if they do not exist yet (state persists across restarts) and adds missing indexes. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const { input, ttlAttribute } of tableDefinitions(names)) {
    let created = false;
    try {
      await client.send(new CreateTableCommand(input));
      created = true;
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    if (created && ttlAttribute !== undefined) {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: input.TableName,
          TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
        }),
      );
    }
    if (created) await client.send(new DescribeTableCommand({ TableName: input.TableName }));
    else await ensureIndexes(client, input);
    if (!created && names.tokenTable !== undefined && input.TableName === names.tokenTable) {
      await backfillDueShard(client, names.tokenTable);
    }
  }
}

/**
 * Grants stored by a version without the refresh job carry no `dueShard`, so the refresh job would never find them and their refresh
 * tokens would run out. Local mode's database is small: one Scan at start puts every ACTIVE grant without it
 * into the due indexes (conditional, so a grant that changed meanwhile is left as it is).
 */
async function backfillDueShard(client: DynamoDBClient, tableName: string): Promise<void> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: 'grantId',
        FilterExpression: 'attribute_not_exists(dueShard) AND #status = :active',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':active': { S: 'ACTIVE' } },
        ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
      }),
    );
    for (const item of page.Items ?? []) {
      if (item.grantId === undefined) continue;
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { grantId: item.grantId },
            UpdateExpression: 'SET dueShard = :due',
            ConditionExpression: 'attribute_not_exists(dueShard) AND #status = :active',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':due': { S: DUE_SHARD }, ':active': { S: 'ACTIVE' } },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}
