import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from '../runtime/aws-clients.js';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { createTokenRotation } from '../tokens/token-rotation.js';
import { dynamoVehicleReauth } from '../vehicles/dynamo-vehicle-links.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { dynamoGrantCensus } from '../tokens/grant-census.js';
import { kmsRecoverySealer } from '../tokens/kms-recovery-sealer.js';
import { sqsRecoveryQueue } from '../tokens/sqs-recovery-queue.js';
import { createRecoveryApplier } from '../tokens/token-recovery.js';
import { loadRefreshConfig } from './config.js';
import { createRefreshHandler } from './create-handler.js';
import { createRefreshJob } from './refresh-job.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
// Every AWS call is time-limited (aws-clients.ts): a hung call must not hold a rotated pair until the Lambda's
// timeout. DynamoDB and KMS answer in milliseconds; 2 s per attempt (3 attempts) is generous and leaves the
// rotation's own retries (until its deadline) most of the time. The recovery queue's long poll waits 1 s.
const limits = { connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000, maxAttempts: 3 };
const config = loadRefreshConfig();
const dynamoClient = new DynamoDBClient(awsClientConfig(limits));
const documentClient = DynamoDBDocumentClient.from(dynamoClient);
const kms = new KMSClient(awsClientConfig(limits));
const sqs = new SQSClient(awsClientConfig({ ...limits, requestTimeoutMs: 4_000 }));
const secret = smartcarSecretSource(
  config.SMARTCAR_SECRET_ID,
  new SecretsManagerClient(awsClientConfig(limits)),
);
const logger = new Logger({ serviceName: 'token-refresh' });
const metrics = new Metrics({ serviceName: 'token-refresh' });
const tokens = dynamoTokenStore({
  client: documentClient,
  tableName: config.TOKEN_TABLE_NAME,
  cipher: kmsTokenCipher(kms, config.TOKEN_KEY_ID),
});
const profiles = dynamoVehicleReauth({ client: documentClient, vehicleTableName: config.VEHICLE_TABLE_NAME });
const sealer = kmsRecoverySealer(kms, config.TOKEN_KEY_ID);
const recoveryQueue = sqsRecoveryQueue(sqs, config.TOKEN_RECOVERY_QUEUE_URL);

export const handler = createRefreshHandler({
  job: createRefreshJob({
    tokens,
    rotation: createTokenRotation({
      tokens,
      profiles,
      smartcar: smartcarGateway({ secret, redirectUri: config.SMARTCAR_REDIRECT_URI }),
      logger,
      metrics,
      leaseMs: config.REFRESH_LEASE_SECONDS * 1000,
      smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
      recovery: { sealer, queue: recoveryQueue },
    }),
    recovery: createRecoveryApplier({ queue: recoveryQueue, sealer, tokens, profiles, logger, metrics }),
    census: dynamoGrantCensus(dynamoClient, config.TOKEN_TABLE_NAME),
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
