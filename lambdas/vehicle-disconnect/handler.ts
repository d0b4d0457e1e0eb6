import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionAdapters } from '../connections/adapters.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { smartcarWebhookSubscriptions } from '../smartcar/webhook-subscriptions.js';
import { subscriptionHooks } from '../subscriptions/connection-hooks.js';
import { dynamoSubscriptions } from '../subscriptions/dynamo-subscriptions.js';
import { createSubscriptionRemover } from '../subscriptions/remover.js';
import { loadDisconnectConfig } from './config.js';
import { createDisconnectHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused (AWS_ENDPOINT_URL_<SERVICE>
// points them at local stand-ins in local mode).
const config = loadDisconnectConfig();
const logger = new Logger({ serviceName: 'vehicle-disconnect' });
const metrics = new Metrics({ serviceName: 'vehicle-disconnect' });
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));

export const handler = createDisconnectHandler({
  ...connectionAdapters({
    config,
    documentClient,
    secret,
    logger,
    // Always on: a vehicle subscribed before SMARTCAR_WEBHOOK_IDS changed must still be unsubscribed before
    // its connection is revoked (disconnect and user removal).
    hooks: subscriptionHooks({
      remover: createSubscriptionRemover({
        store: dynamoSubscriptions(documentClient, config.VEHICLE_TABLE_NAME),
        api: smartcarWebhookSubscriptions({ secret }),
        timeoutMs: config.SMARTCAR_TIMEOUT_MS,
        logger,
        metrics,
      }),
    }),
  }),
  metrics,
});
