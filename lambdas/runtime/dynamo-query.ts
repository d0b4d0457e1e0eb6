import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface IndexPage {
  readonly items: Record<string, unknown>[];
  readonly lastKey?: Record<string, unknown>;
}

/** One page of a GSI Query on a single partition key value (`<key> = :value`). */
export async function queryIndexPage(
  client: DynamoDBDocumentClient,
  query: {
    readonly tableName: string;
    readonly indexName: string;
    readonly key: string;
    readonly value: string;
    readonly limit: number;
    readonly startKey?: Record<string, unknown> | undefined;
  },
): Promise<IndexPage> {
  const result = await client.send(
    new QueryCommand({
      TableName: query.tableName,
      IndexName: query.indexName,
      KeyConditionExpression: `${query.key} = :${query.key}`,
      ExpressionAttributeValues: { [`:${query.key}`]: query.value },
      Limit: query.limit,
      ...(query.startKey !== undefined && { ExclusiveStartKey: query.startKey }),
    }),
  );
  return {
    items: result.Items ?? [],
    ...(result.LastEvaluatedKey !== undefined && { lastKey: result.LastEvaluatedKey }),
  };
}
