import type { Logger } from '@aws-lambda-powertools/logger';
import { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarGateway } from '../smartcar/gateway.js';
import type { SmartcarSecretSource } from '../smartcar/secret.js';
import { dynamoTokenStore } from '../tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../tokens/kms-token-cipher.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
import type { ConnectionDeps } from './deps.js';
import { NO_CONNECTION_HOOKS, type ConnectionHooks } from './hooks.js';

/** The environment every connection life-cycle Lambda reads (see `connectionConfigShape`). */
export interface ConnectionEnvironment {
  readonly VEHICLE_TABLE_NAME: string;
  readonly TOKEN_TABLE_NAME: string;
  /** Only the connect expiry job has it (decrypt only): see `revokePendingGrant`. */
  readonly TOKEN_KEY_ID?: string;
  readonly SMARTCAR_TIMEOUT_MS: number;
  readonly SMARTCAR_MANAGEMENT_API_ORIGIN: string;
}

/**
 * The DynamoDB, KMS and Smartcar adapters of the connection functions (confirm, disconnect / user removal,
 * connect expiry, reconciliation), built once at cold start by their `handler.ts`.
 */
export function connectionAdapters(options: {
  readonly config: ConnectionEnvironment;
  readonly documentClient: DynamoDBDocumentClient;
  readonly secret: SmartcarSecretSource;
  readonly logger: Logger;
  readonly hooks?: ConnectionHooks;
}): ConnectionDeps {
  const { config, documentClient } = options;
  return {
    tokens: dynamoTokenStore({
      client: documentClient,
      tableName: config.TOKEN_TABLE_NAME,
      // Decrypt only, the expiry job only: a pending connect whose vehicles are unknown is revoked with its own
      // access token. Without a key the store has no cipher and these Lambdas cannot use the token key.
      ...(config.TOKEN_KEY_ID !== undefined && {
        cipher: kmsTokenCipher(new KMSClient({}), config.TOKEN_KEY_ID),
      }),
    }),
    links: dynamoVehicleLinks({
      client: documentClient,
      vehicleTableName: config.VEHICLE_TABLE_NAME,
      tokenTableName: config.TOKEN_TABLE_NAME,
    }),
    smartcar: smartcarGateway({
      secret: options.secret,
      managementOrigin: config.SMARTCAR_MANAGEMENT_API_ORIGIN,
    }),
    hooks: options.hooks ?? NO_CONNECTION_HOOKS,
    smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
    logger: options.logger,
  };
}
