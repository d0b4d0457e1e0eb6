import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoOAuthStateStore } from '../oauth/dynamo-oauth-state.js';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { loadConnectConfig } from './config.js';
import { createConnectHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused (AWS_ENDPOINT_URL_<SERVICE> and the
// SMARTCAR_*_ORIGIN variables point them elsewhere locally).
const config = loadConnectConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));

export const handler = createConnectHandler({
  states: dynamoOAuthStateStore(documentClient, config.OAUTH_STATE_TABLE_NAME),
  smartcar: smartcarGateway({
    secret,
    redirectUri: config.SMARTCAR_REDIRECT_URI,
    mode: config.SMARTCAR_MODE,
  }),
  defaultScopes: config.SMARTCAR_DEFAULT_SCOPES,
  mode: config.SMARTCAR_MODE,
  logger: new Logger({ serviceName: 'oauth-connect' }),
});
