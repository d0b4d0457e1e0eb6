import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BY_REFRESH_EXPIRY_INDEX } from '../../contracts/tables.js';

/** How many grants are ACTIVE: what the webhook silence alarm needs to know whether to expect deliveries. */
export interface GrantCensus {
  /** The number, or undefined when the table does not tell. */
  activeGrants(): Promise<number | undefined>;
}

/**
 * The item count DynamoDB keeps for the refresh-expiry index, which holds exactly the ACTIVE grants (the index
 * is sparse: a grant leaves it when it becomes NEEDS_REAUTH or is deleted). `DescribeTable` reads no items and
 * costs nothing, where counting the index would read every grant each run; the price is staleness — DynamoDB
 * updates the figure about every 6 hours, which is fine for "are any vehicles connected at all".
 */
export function dynamoGrantCensus(client: DynamoDBClient, tableName: string): GrantCensus {
  return {
    async activeGrants() {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      return Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === BY_REFRESH_EXPIRY_INDEX)
        ?.ItemCount;
    },
  };
}
