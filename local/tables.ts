import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

export interface TableNames {
  readonly vehicleTable: string;
  readonly idempotencyTable: string;
}

/**
 * The tables of docs/design.md, with the same keys and TTL attributes as lib/ creates in AWS.
 * Kept deliberately next to local mode: CDK describes them for AWS, this describes them for DynamoDB Local.
 */
export function tableDefinitions(
  names: TableNames,
): { input: CreateTableCommandInput; ttlAttribute: string }[] {
  return [
    {
      input: {
        TableName: names.vehicleTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
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
}

/** Creates the tables if they do not exist yet (state persists across restarts). */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const { input, ttlAttribute } of tableDefinitions(names)) {
    try {
      await client.send(new CreateTableCommand(input));
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: input.TableName,
          TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await client.send(new DescribeTableCommand({ TableName: input.TableName }));
  }
}
