import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { smartcarGateway } from '../smartcar/gateway.js';
import type { SmartcarSecretSource } from '../smartcar/secret.js';
import { dynamoVehicleReauth } from '../vehicles/dynamo-vehicle-links.js';
import type { VehicleReauthMarker } from '../vehicles/vehicle-links.js';
import { dynamoTokenStore } from './dynamo-token-store.js';
import { kmsRecoverySealer } from './kms-recovery-sealer.js';
import { kmsTokenCipher } from './kms-token-cipher.js';
import { sqsRecoveryQueue } from './sqs-recovery-queue.js';
import type { RecoveryQueue, RecoverySealer } from './token-recovery.js';
import { createTokenRotation, type TokenRotation, type TokenRotationDeps } from './token-rotation.js';
import type { TokenStore } from './token-store.js';

/**
 * The token rotation as every Lambda that exchanges a refresh token builds it on AWS: the scheduled refresh job
 * and the on-demand refresh of `getAccessToken` (the vehicle-command Lambda, the subscription worker). One
 * factory, so that each of them stores a rotated pair the same way and, when the token table or KMS fails after
 * Smartcar has rotated, parks it in the same recovery queue the refresh job applies first (token-recovery.ts).
 */

/**
 * Limits of the AWS calls around a rotation (aws-clients.ts): a hung call must not hold a rotated pair until the
 * Lambda's timeout. DynamoDB, KMS and SQS answer in milliseconds; 2 s per attempt (3 attempts) is generous and
 * leaves the rotation's own retries (until its deadline) most of the time.
 */
export const ROTATION_CALL_LIMITS = { connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000, maxAttempts: 3 };

/** The variables of the function's config the rotation reads (contracts/functions.ts). */
export interface TokenRotationConfig {
  readonly TOKEN_TABLE_NAME: string;
  readonly TOKEN_KEY_ID: string;
  readonly VEHICLE_TABLE_NAME: string;
  readonly SMARTCAR_REDIRECT_URI: string;
  readonly SMARTCAR_TIMEOUT_MS: number;
  readonly TOKEN_RECOVERY_QUEUE_URL: string;
}

/** `clock`, `sleep`, `random`: the rotation's own defaults unless a test simulates time. */
export interface AwsTokenRotationDeps extends Pick<TokenRotationDeps, 'clock' | 'sleep' | 'random'> {
  readonly config: TokenRotationConfig;
  readonly documentClient: DynamoDBDocumentClient;
  /** Encrypts and decrypts the tokens, and generates the data key that seals a parked pair. */
  readonly kms: KMSClient;
  /** Sends a parked pair to the recovery queue (and, for the refresh job, receives them). */
  readonly sqs: SQSClient;
  readonly secret: SmartcarSecretSource;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How long a claim holds a grant (REFRESH_LEASE_SECONDS × 1000 of the refresh job). */
  readonly leaseMs: number;
}

export interface AwsTokenRotation {
  readonly tokens: TokenStore;
  readonly profiles: VehicleReauthMarker;
  /** The durable fallback: what the rotation parks with, and what the refresh job applies from. */
  readonly recovery: { readonly sealer: RecoverySealer; readonly queue: RecoveryQueue };
  readonly rotation: TokenRotation;
}

export function awsTokenRotation(deps: AwsTokenRotationDeps): AwsTokenRotation {
  const { config, documentClient, kms } = deps;
  const tokens = dynamoTokenStore({
    client: documentClient,
    tableName: config.TOKEN_TABLE_NAME,
    cipher: kmsTokenCipher(kms, config.TOKEN_KEY_ID),
  });
  const profiles = dynamoVehicleReauth({
    client: documentClient,
    vehicleTableName: config.VEHICLE_TABLE_NAME,
  });
  const recovery = {
    sealer: kmsRecoverySealer(kms, config.TOKEN_KEY_ID),
    queue: sqsRecoveryQueue(deps.sqs, config.TOKEN_RECOVERY_QUEUE_URL),
  };
  const rotation = createTokenRotation({
    tokens,
    profiles,
    smartcar: smartcarGateway({ secret: deps.secret, redirectUri: config.SMARTCAR_REDIRECT_URI }),
    logger: deps.logger,
    metrics: deps.metrics,
    leaseMs: deps.leaseMs,
    smartcarTimeoutMs: config.SMARTCAR_TIMEOUT_MS,
    recovery,
    clock: deps.clock,
    sleep: deps.sleep,
    random: deps.random,
  });
  return { tokens, profiles, recovery, rotation };
}
