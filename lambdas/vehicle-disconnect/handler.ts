import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { smartcarWebhookSubscriptions } from '../smartcar/webhook-subscriptions.js';
import { dynamoSubscriptions } from '../subscriptions/dynamo-subscriptions.js';
import { createSubscriptionRemover } from '../subscriptions/remover.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
import { loadDisconnectConfig } from './config.js';
import { createDisconnectHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused (AWS_ENDPOINT_URL_<SERVICE>
// points them at local stand-ins in local mode).
const config = loadDisconnectConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));
const logger = new Logger({ serviceName: 'vehicle-disconnect' });
const metrics = new Metrics({ serviceName: 'vehicle-disconnect' });

export const handler = createDisconnectHandler({
  links: dynamoVehicleLinks({
    client: documentClient,
    vehicleTableName: config.VEHICLE_TABLE_NAME,
    tokenTableName: config.TOKEN_TABLE_NAME,
  }),
  // Disconnect only deletes grants: no cipher, so no KMS client and no use of the token key.
  tokens: dynamoTokenStore({ client: documentClient, tableName: config.TOKEN_TABLE_NAME }),
  smartcar: smartcarGateway({ secret, managementOrigin: config.SMARTCAR_MANAGEMENT_API_ORIGIN }),
  // Always on: a vehicle subscribed before SMARTCAR_WEBHOOK_IDS changed must still be unsubscribed.
  subscriptions: createSubscriptionRemover({
    store: dynamoSubscriptions(documentClient, config.VEHICLE_TABLE_NAME),
    api: smartcarWebhookSubscriptions({ secret }),
    timeoutMs: config.SMARTCAR_TIMEOUT_MS,
    logger,
    metrics,
  }),
  smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
  logger,
  metrics,
});
