import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoCommandAudit } from '../commands/command-audit.js';
import { smartcarCommandGateway } from '../commands/command-gateway.js';
import { awsClientConfig } from '../runtime/aws-clients.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { createAccessTokenProvider } from '../tokens/access-token.js';
import { awsTokenRotation, ROTATION_CALL_LIMITS } from '../tokens/aws-token-rotation.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
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
// An access token lasts 2 h and is refreshed on demand here, through the refresh job's protocol, including its
// fallback: a rotated pair that cannot be stored is parked for the next refresh run. KMS and SQS are
// time-limited so that a hung call cannot eat the few seconds the parking has.
const { tokens, rotation } = awsTokenRotation({
  config,
  documentClient,
  kms: new KMSClient(awsClientConfig(ROTATION_CALL_LIMITS)),
  sqs: new SQSClient(awsClientConfig(ROTATION_CALL_LIMITS)),
  secret,
  logger,
  metrics,
  // As the refresh job's (REFRESH_LEASE_SECONDS default): short, see token-rotation.ts.
  leaseMs: 60_000,
});
const links = dynamoVehicleLinks({
  client: documentClient,
  vehicleTableName: config.VEHICLE_TABLE_NAME,
  tokenTableName: config.TOKEN_TABLE_NAME,
});

export const handler = createCommandHandler({
  links,
  tokens,
  accessTokens: createAccessTokenProvider({ links, tokens, rotation, claimant: 'vehicle-command' }),
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
