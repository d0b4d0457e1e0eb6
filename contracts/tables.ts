/**
 * The DynamoDB tables of docs/design.md: key attributes, TTL attributes and global secondary indexes. The stack
 * (lib/), the Lambdas (lambdas/) and local mode's DynamoDB Local tables (local/stand-ins/dynamodb-tables.ts) all
 * read them from here. Pure data: no aws-cdk-lib, no AWS SDK.
 */

export type AttributeType = 'string' | 'number';

export interface KeyAttribute {
  readonly name: string;
  readonly type: AttributeType;
}

export interface IndexSchema {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /**
   * Project the table and index keys plus only these attributes (INCLUDE; KEYS_ONLY when empty).
   * @default every attribute (ALL)
   */
  readonly nonKeyAttributes?: readonly string[];
}

export interface TableSchema {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /**
   * Attribute holding the expiry in epoch seconds; DynamoDB deletes expired items for free.
   * @default no TTL (items are deleted explicitly)
   */
  readonly timeToLiveAttribute?: string;
  /** @default none */
  readonly globalSecondaryIndexes?: readonly IndexSchema[];
}

const string = (name: string): KeyAttribute => ({ name, type: 'string' });
const number = (name: string): KeyAttribute => ({ name, type: 'number' });

/** GSI of the vehicle table: partition key `appUserId`, sort key `vehicleId`, projection ALL (sparse). */
export const BY_APP_USER_INDEX = 'byAppUser';
/** GSI `dueShard` + `refreshExpiresAt` (N); projection: keys + `version`, `accessExpiresAt`. */
export const BY_REFRESH_EXPIRY_INDEX = 'byRefreshExpiry';
/** GSI `dueShard` + `accessExpiresAt` (N); projection: keys + `version`, `refreshExpiresAt`. */
export const BY_ACCESS_EXPIRY_INDEX = 'byAccessExpiry';

/**
 * Partition key value of the two sparse due-time GSIs (docs/design.md, "Selection"). Written while a grant is
 * ACTIVE, removed when it becomes NEEDS_REAUTH: such a grant drops out of both indexes, so the refresh job
 * neither reads nor retries it again.
 */
export const DUE_SHARD = 'DUE';
/** The token table's attribute that carries DUE_SHARD (the due indexes' partition key). */
export const DUE_SHARD_ATTRIBUTE = 'dueShard';

/** TTL attribute of the vehicle-state table (raw events, resolved-error tombstones). */
export const VEHICLE_TTL_ATTRIBUTE = 'expiresAt';
/** TTL attribute of the idempotency table: what Powertools Idempotency's DynamoDBPersistenceLayer writes. */
export const IDEMPOTENCY_TTL_ATTRIBUTE = 'expiration';
/** TTL attribute of the OAuth state table. */
export const OAUTH_STATE_TTL_ATTRIBUTE = 'expiresAt';

/**
 * A due-time index of the token table. Projection: the keys plus what a run needs to pick and claim grants
 * (`version` for the claim's condition, the other expiry), never the token ciphertexts: an index item stays far
 * below 1 KB (one write unit per index per rotation instead of several) and there is no second copy of the
 * ciphertexts. Not `status`: every grant in the index is ACTIVE. The index is eventually consistent, so the claim
 * (conditional on version, status and lease) decides, and returns the whole item.
 */
function dueIndex(indexName: string, sortKey: 'refreshExpiresAt' | 'accessExpiresAt'): IndexSchema {
  const other = sortKey === 'refreshExpiresAt' ? 'accessExpiresAt' : 'refreshExpiresAt';
  return {
    indexName,
    partitionKey: string(DUE_SHARD_ATTRIBUTE),
    sortKey: number(sortKey),
    nonKeyAttributes: ['version', other],
  };
}

export const TABLES = {
  vehicle: {
    partitionKey: string('pk'),
    sortKey: string('sk'),
    timeToLiveAttribute: VEHICLE_TTL_ATTRIBUTE,
    // `GET /vehicles?userId=`: sparse, only profiles linked by the OAuth callback carry appUserId.
    globalSecondaryIndexes: [
      { indexName: BY_APP_USER_INDEX, partitionKey: string('appUserId'), sortKey: string('vehicleId') },
    ],
  },
  idempotency: {
    // The schema Powertools Idempotency's DynamoDBPersistenceLayer expects by default.
    partitionKey: string('id'),
    timeToLiveAttribute: IDEMPOTENCY_TTL_ATTRIBUTE,
  },
  oauthState: {
    partitionKey: string('state'),
    // DynamoDB deletes expired records; the callback also checks expiresAt since TTL deletion is lazy.
    timeToLiveAttribute: OAUTH_STATE_TTL_ATTRIBUTE,
  },
  token: {
    // No TTL: a grant is deleted explicitly once no vehicle uses it, and an expired refresh token still has to
    // be found to mark its vehicles NEEDS_REAUTH.
    partitionKey: string('grantId'),
    // The refresh job's selection of due grants without a Scan (docs/design.md). Sparse: only ACTIVE grants
    // carry `dueShard`, so grants waiting for re-authorisation drop out instead of being retried every run.
    globalSecondaryIndexes: [
      dueIndex(BY_REFRESH_EXPIRY_INDEX, 'refreshExpiresAt'),
      // Queried only while accessWarmWindowMinutes > 0, but always there: turning warming on or off must not
      // add or delete an index (a backfill of the whole table, and the one-index-per-update limit).
      dueIndex(BY_ACCESS_EXPIRY_INDEX, 'accessExpiresAt'),
    ],
  },
} as const satisfies Record<string, TableSchema>;

export type TableId = keyof typeof TABLES;
