import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ScanCommand,
  UpdateItemCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type Projection,
} from '@aws-sdk/client-dynamodb';
import {
  DUE_SHARD,
  TABLES,
  type IndexSchema,
  type KeyAttribute,
  type TableSchema,
} from '../../contracts/index.js';

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

// The GSI names, as the Lambdas query them (contracts/tables.ts).
export { BY_ACCESS_EXPIRY_INDEX, BY_APP_USER_INDEX, BY_REFRESH_EXPIRY_INDEX } from '../../contracts/index.js';

interface TableDefinition {
  readonly input: CreateTableCommandInput;
  readonly ttlAttribute?: string;
}

const ATTRIBUTE_TYPES = { string: 'S', number: 'N' } as const;

function keySchema(partitionKey: KeyAttribute, sortKey: KeyAttribute | undefined): KeySchemaElement[] {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
}

function projection(index: IndexSchema): Projection {
  if (index.nonKeyAttributes === undefined) return { ProjectionType: 'ALL' };
  if (index.nonKeyAttributes.length === 0) return { ProjectionType: 'KEYS_ONLY' };
  return { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.nonKeyAttributes] };
}

/** The CreateTable input of a table declared in contracts/tables.ts: the same keys, indexes and TTL as in AWS. */
function definitionOf(tableName: string, schema: TableSchema): TableDefinition {
  const indexes = schema.globalSecondaryIndexes ?? [];
  const keys = [schema.partitionKey, schema.sortKey, ...indexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  const attributes = new Map<string, AttributeDefinition>();
  for (const key of keys) {
    if (key && !attributes.has(key.name)) {
      attributes.set(key.name, { AttributeName: key.name, AttributeType: ATTRIBUTE_TYPES[key.type] });
    }
  }
  const globalSecondaryIndexes: GlobalSecondaryIndex[] = indexes.map((index) => ({
    IndexName: index.indexName,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: projection(index),
  }));
  return {
    input: {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attributes.values()],
      KeySchema: keySchema(schema.partitionKey, schema.sortKey),
      ...(globalSecondaryIndexes.length > 0 && { GlobalSecondaryIndexes: globalSecondaryIndexes }),
    },
    ...(schema.timeToLiveAttribute !== undefined && { ttlAttribute: schema.timeToLiveAttribute }),
  };
}

/** The tables of docs/design.md (contracts/tables.ts), for DynamoDB Local; a table without a name is left out. */
export function tableDefinitions(names: TableNames): TableDefinition[] {
  const tables: [string | undefined, TableSchema][] = [
    [names.vehicleTable, TABLES.vehicle],
    [names.idempotencyTable, TABLES.idempotency],
    [names.oauthStateTable, TABLES.oauthState],
    [names.tokenTable, TABLES.token],
  ];
  return tables.flatMap(([name, schema]) => (name === undefined ? [] : [definitionOf(name, schema)]));
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
