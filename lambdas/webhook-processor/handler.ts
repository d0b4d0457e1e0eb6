import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoCommandAudit } from '../commands/command-audit.js';
import { confirmCommands } from '../commands/command-confirmation.js';
import { loadProcessorConfig } from './config.js';
import { createProcessorHandler } from './create-handler.js';

// Cold start: configuration validated once (a bad value fails here, loudly); clients created once and reused.
// The SDK picks up AWS_ENDPOINT_URL_DYNAMODB, so local mode runs this same code against DynamoDB Local.
const config = loadProcessorConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const handler = createProcessorHandler({
  config,
  documentClient,
  logger: new Logger({ serviceName: 'webhook-processor' }),
  metrics: new Metrics({ serviceName: 'webhook-processor' }),
  ...(config.COMMAND_AUDIT_TABLE_NAME !== undefined && {
    confirmCommands: (() => {
      // Confirmation never expires items: the retention only matters to the command Lambda's writes.
      const audit = dynamoCommandAudit({
        client: documentClient,
        tableName: config.COMMAND_AUDIT_TABLE_NAME,
        retentionDays: 1,
      });
      return (vehicleId: string, observed: Parameters<typeof confirmCommands>[2]) =>
        confirmCommands(audit, vehicleId, observed);
    })(),
  }),
});
