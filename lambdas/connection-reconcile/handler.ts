import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionAdapters } from '../connections/adapters.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { loadReconcileConfig } from './config.js';
import { createReconcileHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused.
const config = loadReconcileConfig();
const logger = new Logger({ serviceName: 'connection-reconcile' });

export const handler = createReconcileHandler({
  ...connectionAdapters({
    config,
    documentClient: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    secret: smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({})),
    logger,
  }),
  metrics: new Metrics({ serviceName: 'connection-reconcile' }),
  revokeOrphans: config.RECONCILE_REVOKE_ORPHANS,
});
