import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionAdapters } from '../connections/adapters.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { loadDisconnectConfig } from './config.js';
import { createDisconnectHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused (AWS_ENDPOINT_URL_<SERVICE>
// points them at local stand-ins in local mode).
const config = loadDisconnectConfig();
const logger = new Logger({ serviceName: 'vehicle-disconnect' });

export const handler = createDisconnectHandler({
  ...connectionAdapters({
    config,
    documentClient: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    secret: smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({})),
    logger,
  }),
  metrics: new Metrics({ serviceName: 'vehicle-disconnect' }),
});
