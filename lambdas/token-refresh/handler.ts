import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from '../runtime/aws-clients.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { dynamoGrantCensus } from '../tokens/grant-census.js';
import { awsTokenRotation, ROTATION_CALL_LIMITS } from '../tokens/aws-token-rotation.js';
import { createRecoveryApplier } from '../tokens/token-recovery.js';
import { loadRefreshConfig } from './config.js';
import { createRefreshHandler } from './create-handler.js';
import { createRefreshJob } from './refresh-job.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
// Every AWS call is time-limited (ROTATION_CALL_LIMITS). The recovery queue's long poll waits 1 s.
const limits = ROTATION_CALL_LIMITS;
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
const { tokens, profiles, recovery, rotation } = awsTokenRotation({
  config,
  documentClient,
  kms,
  sqs,
  secret,
  logger,
  metrics,
  leaseMs: config.REFRESH_LEASE_SECONDS * 1000,
});

export const handler = createRefreshHandler({
  job: createRefreshJob({
    tokens,
    rotation,
    recovery: createRecoveryApplier({ ...recovery, tokens, profiles, logger, metrics }),
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
