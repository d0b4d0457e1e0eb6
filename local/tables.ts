import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';

/**
 * Table names. The OAuth tables are optional so that callers written before issue 3 keep working: a table
 * whose name is not given is not created.
 */
export interface TableNames {
  readonly vehicleTable: string;
  readonly idempotencyTable: string;
  /** Single-use OAuth `state` records (partition key `state`, TTL `expiresAt`). */
  readonly oauthStateTable?: string;
  /** Grants with KMS-encrypted token pairs (partition key `grantId`). */
  readonly tokenTable?: string;
}

/** The vehicle table's GSI (docs/design.md, "Vehicle profile additions"); same name as lambdas/shared/vehicle-links.ts. */
export const BY_APP_USER_INDEX = 'byAppUser';

const byAppUserIndex: GlobalSecondaryIndex = {
  IndexName: BY_APP_USER_INDEX,
  KeySchema: [
    { AttributeName: 'appUserId', KeyType: 'HASH' },
    { AttributeName: 'vehicleId', KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
};

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
        AttributeDefinitions: [{ AttributeName: 'grantId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'grantId', KeyType: 'HASH' }],
      },
    });
  }
  return tables;
}

const INDEX_WAIT_MS = 30_000;

/**
 * Adds the GSIs of `input` that an existing table lacks (a `.local/` database created before issue 3), one
 * UpdateTable per index as DynamoDB requires, and waits until each is ACTIVE.
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
  }
  const deadline = Date.now() + INDEX_WAIT_MS;
  for (;;) {
    const table = (await client.send(new DescribeTableCommand({ TableName: input.TableName }))).Table;
    const statuses = (table?.GlobalSecondaryIndexes ?? []).filter((index) =>
      wanted.some((w) => w.IndexName === index.IndexName),
    );
    if (statuses.length === wanted.length && statuses.every((index) => index.IndexStatus === 'ACTIVE'))
      return;
    if (Date.now() > deadline) throw new Error(`indexes of ${input.TableName} did not become ACTIVE`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
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
  }
}
