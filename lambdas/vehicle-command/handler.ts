import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoCommandAudit } from '../commands/command-audit.js';
import { smartcarCommandGateway } from '../commands/command-gateway.js';
import { smartcarGateway } from '../smartcar/gateway.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { createAccessTokenProvider } from '../tokens/access-token.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { createTokenRotation } from '../tokens/token-rotation.js';
import { dynamoVehicleLinks, dynamoVehicleReauth } from '../vehicles/dynamo-vehicle-links.js';
import { loadCommandConfig } from './config.js';
import { createCommandHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused. The SDK clients pick up
// AWS_ENDPOINT_URL_<SERVICE>, the smartcar SDK its SMARTCAR_*_ORIGIN variables (local mode, tests).
const config = loadCommandConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({}));
const logger = new Logger({ serviceName: 'vehicle-command' });
const metrics = new Metrics({ serviceName: 'vehicle-command' });
const tokens = dynamoTokenStore({
  client: documentClient,
  tableName: config.TOKEN_TABLE_NAME,
  cipher: kmsTokenCipher(new KMSClient({}), config.TOKEN_KEY_ID),
});
const links = dynamoVehicleLinks({
  client: documentClient,
  vehicleTableName: config.VEHICLE_TABLE_NAME,
  tokenTableName: config.TOKEN_TABLE_NAME,
});

export const handler = createCommandHandler({
  links,
  tokens,
  accessTokens: createAccessTokenProvider({
    links,
    tokens,
    // An access token lasts 2 h and is refreshed on demand here, through the refresh job's protocol.
    rotation: createTokenRotation({
      tokens,
      profiles: dynamoVehicleReauth({ client: documentClient, vehicleTableName: config.VEHICLE_TABLE_NAME }),
      smartcar: smartcarGateway({ secret, redirectUri: config.SMARTCAR_REDIRECT_URI }),
      logger,
      metrics,
      // As the refresh job's (REFRESH_LEASE_SECONDS default): short, see token-rotation.ts.
      leaseMs: 60_000,
      smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
    }),
    claimant: 'vehicle-command',
  }),
  gateway: smartcarCommandGateway(),
  audit: dynamoCommandAudit({
    client: documentClient,
    tableName: config.COMMAND_AUDIT_TABLE_NAME,
    retentionDays: config.COMMAND_AUDIT_DAYS,
  }),
  commandTimeoutMs: config.SMARTCAR_COMMAND_TIMEOUT_MS,
  smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
  logger,
  metrics,
});
