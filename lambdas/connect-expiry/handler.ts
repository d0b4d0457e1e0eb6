import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionAdapters } from '../connections/adapters.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { loadExpiryConfig } from './config.js';
import { createExpiryHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused.
const config = loadExpiryConfig();
const logger = new Logger({ serviceName: 'connect-expiry' });

export const handler = createExpiryHandler({
  ...connectionAdapters({
    config,
    documentClient: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    secret: smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({})),
    logger,
  }),
  metrics: new Metrics({ serviceName: 'connect-expiry' }),
});
