import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { createTokenRotation } from '../tokens/token-rotation.js';
import { dynamoVehicleReauth } from '../vehicles/dynamo-vehicle-links.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { loadRefreshConfig } from './config.js';
import { createRefreshHandler } from './create-handler.js';
import { createRefreshJob } from './refresh-job.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
const config = loadRefreshConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));
const logger = new Logger({ serviceName: 'token-refresh' });
const metrics = new Metrics({ serviceName: 'token-refresh' });
const tokens = dynamoTokenStore({
  client: documentClient,
  tableName: config.TOKEN_TABLE_NAME,
  cipher: kmsTokenCipher(new KMSClient({}), config.TOKEN_KEY_ID),
});

export const handler = createRefreshHandler({
  job: createRefreshJob({
    tokens,
    rotation: createTokenRotation({
      tokens,
      profiles: dynamoVehicleReauth({ client: documentClient, vehicleTableName: config.VEHICLE_TABLE_NAME }),
      smartcar: smartcarGateway({ secret, redirectUri: config.SMARTCAR_REDIRECT_URI }),
      logger,
      metrics,
      leaseMs: config.REFRESH_LEASE_SECONDS * 1000,
      smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
    }),
    config: {
      refreshWindowMs: config.REFRESH_WINDOW_DAYS * 24 * 60 * 60 * 1000,
      accessWarmWindowMs: config.ACCESS_WARM_WINDOW_MINUTES * 60 * 1000,
      concurrency: config.REFRESH_CONCURRENCY,
    },
    logger,
    metrics,
  }),
  logger,
  metrics,
});
