import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { smartcarWebhookSubscriptions } from '../smartcar/webhook-subscriptions.js';
import { dynamoSubscriptions } from '../subscriptions/dynamo-subscriptions.js';
import { sqsMessageDelay } from '../subscriptions/sqs-subscription-queue.js';
import { createSubscribeWorker } from '../subscriptions/worker.js';
import { createAccessTokenProvider } from '../tokens/access-token.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { createTokenRotation } from '../tokens/token-rotation.js';
import { dynamoVehicleLinks, dynamoVehicleReauth } from '../vehicles/dynamo-vehicle-links.js';
import { loadSubscriptionWorkerConfig } from './config.js';
import { createSubscriptionWorkerHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
const config = loadSubscriptionWorkerConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));
const logger = new Logger({ serviceName: 'subscription-worker' });
const metrics = new Metrics({ serviceName: 'subscription-worker' });
const tokens = dynamoTokenStore({
  client: documentClient,
  tableName: config.TOKEN_TABLE_NAME,
  cipher: kmsTokenCipher(new KMSClient({}), config.TOKEN_KEY_ID),
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
      rotation: createTokenRotation({
        tokens,
        profiles: dynamoVehicleReauth({
          client: documentClient,
          vehicleTableName: config.VEHICLE_TABLE_NAME,
        }),
        smartcar: smartcarGateway({ secret, redirectUri: config.SMARTCAR_REDIRECT_URI }),
        logger,
        metrics,
        // The refresh job's default lease: both claim the same grants under the same protocol.
        leaseMs: 60_000,
        smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
      }),
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
