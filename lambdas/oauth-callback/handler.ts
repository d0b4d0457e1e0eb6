import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarCommandGateway } from '../commands/command-gateway.js';
import { dynamoOAuthStateStore } from '../oauth/dynamo-oauth-state.js';
import { smartcarGateway } from '../smartcar/gateway.js';
import { secretOriginLock } from '../edge/origin-lock.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { awsSubscriptionScheduler } from '../subscriptions/aws-scheduler.js';
import { subscriptionHooks } from '../subscriptions/connection-hooks.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
import { createCallbackHandler } from './create-handler.js';
import { loadCallbackConfig } from './config.js';

// Cold start: configuration validated once (bad URLs fail here, loudly); clients created once and reused. The
// SDK clients pick up AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables.
const config = loadCallbackConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secrets = new SecretsManagerClient({});
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, secrets);
const commandGateway = smartcarCommandGateway();
const logger = new Logger({ serviceName: 'oauth-callback' });
const metrics = new Metrics({ serviceName: 'oauth-callback' });
const sqs = new SQSClient({});
// With connectConfirmation=off the callback links vehicles itself, so it subscribes them too.
const subscriptions = awsSubscriptionScheduler(config, { documentClient, sqs, logger, metrics });

export const handler = createCallbackHandler({
  states: dynamoOAuthStateStore(documentClient, config.OAUTH_STATE_TABLE_NAME),
  smartcar: smartcarGateway({
    secret,
    redirectUri: config.SMARTCAR_REDIRECT_URI,
    managementOrigin: config.SMARTCAR_MANAGEMENT_API_ORIGIN,
  }),
  secret,
  tokens: dynamoTokenStore({
    client: documentClient,
    tableName: config.TOKEN_TABLE_NAME,
    cipher: kmsTokenCipher(new KMSClient({}), config.TOKEN_KEY_ID),
  }),
  links: dynamoVehicleLinks({
    client: documentClient,
    vehicleTableName: config.VEHICLE_TABLE_NAME,
    tokenTableName: config.TOKEN_TABLE_NAME,
  }),
  grantedPermissions: (accessToken, vehicleId, limit) =>
    commandGateway.permissions(vehicleId, accessToken, limit.budget()),
  ...(subscriptions && { hooks: subscriptionHooks({ scheduler: subscriptions }) }),
  successUrl: config.CONNECT_SUCCESS_URL,
  failureUrl: config.CONNECT_FAILURE_URL,
  confirmation: config.CONNECT_CONFIRMATION,
  confirmWindowMs: config.CONNECT_CONFIRM_MINUTES * 60_000,
  smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
  logger,
  metrics,
  ...(config.EDGE_ORIGIN_SECRET_ID !== undefined && {
    originLock: secretOriginLock(config.EDGE_ORIGIN_SECRET_ID, secrets),
  }),
});
