import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from '../runtime/aws-clients.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { smartcarWebhookSubscriptions } from '../smartcar/webhook-subscriptions.js';
import { dynamoSubscriptions } from '../subscriptions/dynamo-subscriptions.js';
import { sqsMessageDelay } from '../subscriptions/sqs-subscription-queue.js';
import { createSubscribeWorker } from '../subscriptions/worker.js';
import { createAccessTokenProvider } from '../tokens/access-token.js';
import { awsTokenRotation, ROTATION_CALL_LIMITS } from '../tokens/aws-token-rotation.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
import { loadSubscriptionWorkerConfig } from './config.js';
import { createSubscriptionWorkerHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
const config = loadSubscriptionWorkerConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
// Time-limited (ROTATION_CALL_LIMITS): it also parks rotated pairs, which must not hang.
const sqs = new SQSClient(awsClientConfig(ROTATION_CALL_LIMITS));
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));
const logger = new Logger({ serviceName: 'subscription-worker' });
const metrics = new Metrics({ serviceName: 'subscription-worker' });
// An expiring access token is refreshed through the refresh job's protocol, including its fallback: a rotated
// pair that cannot be stored is parked for the next refresh run. KMS is time-limited too, so that a hung call
// cannot eat the time the parking has.
const { tokens, rotation } = awsTokenRotation({
  config,
  documentClient,
  kms: new KMSClient(awsClientConfig(ROTATION_CALL_LIMITS)),
  sqs,
  secret,
  logger,
  metrics,
  // The refresh job's default lease: both claim the same grants under the same protocol.
  leaseMs: 60_000,
});

export const handler = createSubscriptionWorkerHandler({
  subscribeOne: createSubscribeWorker({
    store: dynamoSubscriptions(documentClient, config.VEHICLE_TABLE_NAME),
    api: smartcarWebhookSubscriptions({ secret }),
    tokens: createAccessTokenProvider({
      links: dynamoVehicleLinks({
        client: documentClient,
        vehicleTableName: config.VEHICLE_TABLE_NAME,
        tokenTableName: config.TOKEN_TABLE_NAME,
      }),
      tokens,
      rotation,
      claimant: 'subscription-worker',
    }),
    maxAttempts: config.SUBSCRIPTION_MAX_ATTEMPTS,
    smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
    logger,
    metrics,
  }),
  delay: sqsMessageDelay(sqs, config.SUBSCRIPTION_QUEUE_URL),
  logger,
  metrics,
});
