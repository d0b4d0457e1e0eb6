import { randomUUID } from 'node:crypto';
import {
  DecryptCommand,
  EncryptCommand,
  InvalidCiphertextException,
  IncorrectKeyException,
  type KMSClient,
} from '@aws-sdk/client-kms';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import type { TokenSet } from '../smartcar/gateway.js';

/**
 * The grant repository (docs/design.md, "Token table"): one item per Connect authorization, holding its token
 * pair as KMS ciphertexts. Used by the callback (create), disconnect (delete when unused) and the refresh job
 * (select due grants from the `dueShard` indexes, claim with a lease, persist the rotated pair conditionally on
 * `version` and the lease, mark NEEDS_REAUTH).
 *
 * Each token is encrypted with `kms:Encrypt` under the encryption context `{grantId, appUserId, tokenType}`.
 * KMS authenticates the context, so a ciphertext copied to another grant, another user or the other field does
 * not decrypt. Plaintext tokens exist only in memory, are never logged and never written to DynamoDB.
 */

export type TokenType = 'access' | 'refresh';

export interface TokenContext {
  readonly grantId: string;
  readonly appUserId: string;
  readonly tokenType: TokenType;
}

export const GRANT_ACTIVE = 'ACTIVE';
export const GRANT_NEEDS_REAUTH = 'NEEDS_REAUTH';
export type GrantStatus = typeof GRANT_ACTIVE | typeof GRANT_NEEDS_REAUTH;

/**
 * Partition key value of the two sparse due-time GSIs (docs/design.md, "Selection"). Written while a grant is
 * ACTIVE, removed when it becomes NEEDS_REAUTH: such a grant drops out of both indexes, so the refresh job
 * neither reads nor retries it again.
 */
export const DUE_SHARD = 'DUE';
/** GSI `dueShard` + `refreshExpiresAt` (N); projection: keys + `version`, `accessExpiresAt`. */
export const BY_REFRESH_EXPIRY_INDEX = 'byRefreshExpiry';
/** GSI `dueShard` + `accessExpiresAt` (N); projection: keys + `version`, `refreshExpiresAt`. */
export const BY_ACCESS_EXPIRY_INDEX = 'byAccessExpiry';
/** Query page size of the due indexes (items are ~100 bytes: one page is far below the 1 MB limit). */
const DUE_PAGE_SIZE = 500;

/** A grant's metadata: everything but the token ciphertexts. */
export interface GrantRecord {
  readonly grantId: string;
  readonly appUserId: string;
  readonly smartcarUserId: string;
  /** ARN of the KMS key that encrypted the current token pair. */
  readonly keyId: string;
  readonly accessExpiresAt: number;
  readonly refreshExpiresAt: number;
  /** 1 at creation, +1 per rotation; every token write is conditional on it. */
  readonly version: number;
  /** Vehicles currently linked to the grant (sorted); empty means the grant is about to be deleted. */
  readonly vehicleIds: readonly string[];
  readonly status: GrantStatus;
  readonly scopes: readonly string[];
  /**
   * The permissions the owner actually granted (Smartcar `GET /vehicles/{id}/permissions` at connect time);
   * absent for grants stored before it was read, or when that read failed.
   */
  readonly permissions?: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Who holds the rotation lease (present only while claimed, or after a claimant died). */
  readonly leaseOwner?: string;
  /** Epoch ms until which the lease holds; a claim may take over once it has passed. */
  readonly leaseUntil?: number;
  /** Lease owner whose persist wrote the current pair (absent before the first rotation). */
  readonly rotatedBy?: string;
}

/** One entry of a due-time index: enough to claim the grant (the claim itself returns the whole item). */
export interface DueGrant {
  readonly grantId: string;
  readonly version: number;
  readonly accessExpiresAt?: number;
  readonly refreshExpiresAt?: number;
}

export type DueIndex = 'refresh' | 'access';

export interface ClaimRequest {
  readonly grantId: string;
  /** The version the claimant saw (index or read); a different one means someone rotated meanwhile. */
  readonly version: number;
  /** Unique per claim attempt: the persist and release writes are conditional on it. */
  readonly owner: string;
  /** Wall clock (epoch ms) of the claim; leases are compared across processes on this clock. */
  readonly now: number;
  readonly leaseMs: number;
}

/** A grant this caller holds the rotation lease of (see lambdas/tokens/token-rotation.ts). */
export interface GrantClaim {
  /** The grant as it was claimed (its `leaseOwner`/`leaseUntil` are the previous, expired lease, if any). */
  readonly grant: GrantRecord;
  readonly owner: string;
  readonly leaseUntil: number;
  /** Decrypts the claimed item's refresh token (TokenDecryptionError when it does not belong to the grant). */
  refreshToken(): Promise<string>;
}

export interface NewGrant {
  /** Defaults to a random UUID. */
  readonly grantId?: string;
  readonly appUserId: string;
  readonly smartcarUserId: string;
  readonly scopes: readonly string[];
  /** The permissions Smartcar says were granted, when they could be read. */
  readonly permissions?: readonly string[];
  readonly tokens: TokenSet;
  readonly now: number;
}

export interface TokenCipher {
  encrypt(plaintext: string, context: TokenContext): Promise<{ ciphertext: string; keyId: string }>;
  /** Throws TokenDecryptionError when the ciphertext does not belong to this context (or is damaged). */
  decrypt(ciphertext: string, context: TokenContext): Promise<string>;
}

/** The stored ciphertext does not decrypt under the grant's context: tampered, moved, or the wrong key. */
export class TokenDecryptionError extends Error {
  override readonly name = 'TokenDecryptionError';
  constructor(
    readonly grantId: string,
    readonly tokenType: TokenType,
    options?: { cause?: unknown },
  ) {
    super(
      `the ${tokenType} token of grant ${grantId} does not decrypt under its encryption context`,
      options,
    );
  }
}

/** A conditional token write lost: the grant changed (another rotation won) or no longer exists. */
export class GrantConflictError extends Error {
  override readonly name = 'GrantConflictError';
  constructor(readonly grantId: string) {
    super(`grant ${grantId} was changed or deleted concurrently`);
  }
}

/** The grant item is missing fields it must have; it is reported, never "repaired" silently. */
export class MalformedGrantError extends Error {
  override readonly name = 'MalformedGrantError';
  constructor(
    readonly grantId: string,
    readonly field: string,
  ) {
    super(`grant ${grantId} has no valid ${field}`);
  }
}

function contextOf(context: TokenContext): Record<string, string> {
  return { grantId: context.grantId, appUserId: context.appUserId, tokenType: context.tokenType };
}

/** KMS Encrypt/Decrypt of tokens (< 4 KB, so no envelope encryption is needed). */
export function kmsTokenCipher(kms: KMSClient, keyId: string): TokenCipher {
  return {
    async encrypt(plaintext, context) {
      const result = await kms.send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: Buffer.from(plaintext, 'utf8'),
          EncryptionContext: contextOf(context),
        }),
      );
      if (!result.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
      return {
        ciphertext: Buffer.from(result.CiphertextBlob).toString('base64'),
        keyId: result.KeyId ?? keyId,
      };
    },
    async decrypt(ciphertext, context) {
      try {
        const result = await kms.send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(ciphertext, 'base64'),
            EncryptionContext: contextOf(context),
            // Pinned to the configured key, not the item's `keyId`: KMS then refuses a blob made under any other
            // key, so a forged item cannot bring its own key. (KMS key rotation keeps the key id.)
            KeyId: keyId,
          }),
        );
        if (!result.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
        return Buffer.from(result.Plaintext).toString('utf8');
      } catch (error) {
        if (error instanceof InvalidCiphertextException || error instanceof IncorrectKeyException) {
          throw new TokenDecryptionError(context.grantId, context.tokenType, { cause: error });
        }
        throw error;
      }
    },
  };
}

export interface TokenStore {
  /** Encrypts the pair and puts a new grant (`attribute_not_exists(grantId)`), without vehicles yet. */
  createGrant(input: NewGrant): Promise<GrantRecord>;
  /** Metadata only (no KMS call). Strongly consistent by default: it feeds conditional writes. */
  getGrant(grantId: string, options?: { readonly consistent?: boolean }): Promise<GrantRecord | undefined>;
  /** The grant and its decrypted pair; undefined when the grant does not exist. */
  readGrantTokens(grantId: string): Promise<{ grant: GrantRecord; tokens: TokenSet } | undefined>;
  /**
   * Stores a rotated pair: conditional on the grant still having `grant.version`; sets `version + 1`, status
   * ACTIVE, `dueShard` and clears any lease. Throws GrantConflictError when another writer won (re-read and
   * decide again). Not lease-aware: the refresh path uses claimGrant + persistRotation instead.
   */
  rotateTokens(grant: GrantRecord, tokens: TokenSet, now: number): Promise<GrantRecord>;
  /**
   * Marks the grant NEEDS_REAUTH (refresh token rejected or expired) and takes it out of the due indexes
   * (REMOVE `dueShard`) and any lease; conditional on `version` (and on holding the lease when `owner` is
   * given); GrantConflictError otherwise.
   */
  markNeedsReauth(
    grant: GrantRecord,
    now: number,
    options?: { readonly owner?: string; readonly reason?: string },
  ): Promise<void>;
  /** Deletes the grant if no vehicle uses it (`attribute_not_exists(vehicleIds)`); true when deleted. */
  deleteGrantIfUnused(grantId: string): Promise<boolean>;
  /**
   * Every grant of a due-time index whose expiry is at or before `dueBy`, soonest first (Query, paginated,
   * eventually consistent: the claim's version condition catches stale entries).
   */
  listDue(index: DueIndex, dueBy: number): Promise<DueGrant[]>;
  /**
   * Takes the rotation lease: conditional on `version`, ACTIVE and no live lease. Undefined when the condition
   * fails (another claimant holds it, it was rotated, re-authorization is needed, or it is gone).
   */
  claimGrant(request: ClaimRequest): Promise<GrantClaim | undefined>;
  /**
   * Stores the pair Smartcar issued for a claim: conditional on the claimed `version` and still holding the
   * lease; sets `version + 1`, ACTIVE, `dueShard`, `rotatedBy = owner` and removes the lease. GrantConflictError
   * when the condition fails (`getGrant(...).rotatedBy` tells whether an earlier attempt of ours landed).
   */
  persistRotation(claim: GrantClaim, tokens: TokenSet, now: number): Promise<GrantRecord>;
  /** Gives the lease back without a rotation; false when it was no longer ours. */
  releaseClaim(claim: GrantClaim): Promise<boolean>;
  /** The grant and its decrypted access token only (one KMS call); undefined when the grant does not exist. */
  readAccessToken(grantId: string): Promise<{ grant: GrantRecord; accessToken: string } | undefined>;
}

const GRANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function requireString(item: Record<string, unknown>, field: string, grantId: string): string {
  const value = item[field];
  if (typeof value !== 'string' || value === '') throw new MalformedGrantError(grantId, field);
  return value;
}

function requireNumber(item: Record<string, unknown>, field: string, grantId: string): number {
  const value = item[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedGrantError(grantId, field);
  return value;
}

function stringList(value: unknown): string[] {
  if (value instanceof Set || Array.isArray(value)) {
    return [...(value as Iterable<unknown>)].filter((v): v is string => typeof v === 'string').sort();
  }
  return [];
}

/** DynamoDB item → GrantRecord; the ciphertexts stay in the item. */
export function grantFromItem(item: Record<string, unknown>): GrantRecord {
  const grantId = typeof item.grantId === 'string' ? item.grantId : '(unknown)';
  const status = item.status === GRANT_NEEDS_REAUTH ? GRANT_NEEDS_REAUTH : GRANT_ACTIVE;
  return {
    grantId: requireString(item, 'grantId', grantId),
    appUserId: requireString(item, 'appUserId', grantId),
    smartcarUserId: requireString(item, 'smartcarUserId', grantId),
    keyId: requireString(item, 'keyId', grantId),
    accessExpiresAt: requireNumber(item, 'accessExpiresAt', grantId),
    refreshExpiresAt: requireNumber(item, 'refreshExpiresAt', grantId),
    version: requireNumber(item, 'version', grantId),
    vehicleIds: stringList(item.vehicleIds),
    status,
    scopes: Array.isArray(item.scopes) ? item.scopes.filter((s): s is string => typeof s === 'string') : [],
    ...(Array.isArray(item.permissions) && {
      permissions: item.permissions.filter((p): p is string => typeof p === 'string'),
    }),
    createdAt: requireNumber(item, 'createdAt', grantId),
    updatedAt: requireNumber(item, 'updatedAt', grantId),
    ...(typeof item.leaseOwner === 'string' && { leaseOwner: item.leaseOwner }),
    ...(typeof item.leaseUntil === 'number' && { leaseUntil: item.leaseUntil }),
    ...(typeof item.rotatedBy === 'string' && { rotatedBy: item.rotatedBy }),
  };
}

export function dynamoTokenStore(options: {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Omitted by callers that only delete grants (disconnect): they get no KMS access at all. */
  readonly cipher?: TokenCipher;
}): TokenStore {
  const { client, tableName } = options;
  const cipher: TokenCipher = options.cipher ?? {
    encrypt: () => Promise.reject(new Error('this token store has no cipher')),
    decrypt: () => Promise.reject(new Error('this token store has no cipher')),
  };

  async function encryptPair(grantId: string, appUserId: string, tokens: TokenSet) {
    // Both in parallel: two KMS calls, each bound to its own field by `tokenType`.
    const [access, refresh] = await Promise.all([
      cipher.encrypt(tokens.accessToken, { grantId, appUserId, tokenType: 'access' }),
      cipher.encrypt(tokens.refreshToken, { grantId, appUserId, tokenType: 'refresh' }),
    ]);
    return { access, refresh };
  }

  /**
   * Stores a rotated pair as the grant's next version (rotateTokens, persistRotation): `version + 1`, ACTIVE,
   * `dueShard`, lease removed. Conditional on `grant.version` and, for a claim (`owner`), on still holding the
   * lease; a claim also stores `rotatedBy = owner`. GrantConflictError when the condition fails.
   */
  async function storeRotation(
    grant: GrantRecord,
    tokens: TokenSet,
    now: number,
    owner?: string,
  ): Promise<GrantRecord> {
    const { access, refresh } = await encryptPair(grant.grantId, grant.appUserId, tokens);
    const values: Record<string, unknown> = {
      ':access': access.ciphertext,
      ':refresh': refresh.ciphertext,
      ':keyId': access.keyId,
      ':accessExpiresAt': tokens.accessExpiresAt,
      ':refreshExpiresAt': tokens.refreshExpiresAt,
      ':next': grant.version + 1,
      ':expected': grant.version,
      ':active': GRANT_ACTIVE,
      ':due': DUE_SHARD,
      ':now': now,
    };
    let condition = 'attribute_exists(grantId) AND #version = :expected';
    let rotatedBy = '';
    if (owner !== undefined) {
      // Not conditional on leaseUntil: a holder whose lease ran out may still store its pair as long as
      // nobody took the grant over (leaseOwner unchanged); that pair is the newest Smartcar issued.
      condition += ' AND leaseOwner = :owner';
      rotatedBy = 'rotatedBy = :owner, ';
      values[':owner'] = owner;
    }
    try {
      const result = await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { grantId: grant.grantId },
          // A lease on the old version is meaningless now: removed, so the next claim need not wait for it.
          UpdateExpression:
            'SET accessToken = :access, refreshToken = :refresh, keyId = :keyId, ' +
            'accessExpiresAt = :accessExpiresAt, refreshExpiresAt = :refreshExpiresAt, ' +
            `#version = :next, #status = :active, dueShard = :due, ${rotatedBy}updatedAt = :now ` +
            'REMOVE leaseOwner, leaseUntil',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return grantFromItem(result.Attributes ?? {});
    } catch (error) {
      if (isConditionalFailure(error)) throw new GrantConflictError(grant.grantId);
      throw error;
    }
  }

  async function getItem(grantId: string, consistent: boolean) {
    if (!GRANT_ID.test(grantId)) return undefined;
    const result = await client.send(
      new GetCommand({ TableName: tableName, Key: { grantId }, ConsistentRead: consistent }),
    );
    return result.Item;
  }

  return {
    async createGrant(input) {
      const grantId = input.grantId ?? randomUUID();
      const { access, refresh } = await encryptPair(grantId, input.appUserId, input.tokens);
      const item = {
        grantId,
        appUserId: input.appUserId,
        smartcarUserId: input.smartcarUserId,
        accessToken: access.ciphertext,
        refreshToken: refresh.ciphertext,
        keyId: access.keyId,
        accessExpiresAt: input.tokens.accessExpiresAt,
        refreshExpiresAt: input.tokens.refreshExpiresAt,
        version: 1,
        status: GRANT_ACTIVE,
        // In the due-time indexes from the start: the refresh job finds it when its refresh token nears expiry.
        dueShard: DUE_SHARD,
        scopes: [...input.scopes],
        ...(input.permissions !== undefined && { permissions: [...input.permissions] }),
        createdAt: input.now,
        updatedAt: input.now,
      };
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(grantId)',
        }),
      );
      return grantFromItem(item);
    },

    async getGrant(grantId, getOptions = {}) {
      const item = await getItem(grantId, getOptions.consistent ?? true);
      return item ? grantFromItem(item) : undefined;
    },

    async readGrantTokens(grantId) {
      const item = await getItem(grantId, true);
      if (!item) return undefined;
      const grant = grantFromItem(item);
      const accessCiphertext = requireString(item, 'accessToken', grantId);
      const refreshCiphertext = requireString(item, 'refreshToken', grantId);
      const base = { grantId, appUserId: grant.appUserId };
      const [accessToken, refreshToken] = await Promise.all([
        cipher.decrypt(accessCiphertext, { ...base, tokenType: 'access' }),
        cipher.decrypt(refreshCiphertext, { ...base, tokenType: 'refresh' }),
      ]);
      return {
        grant,
        tokens: {
          accessToken,
          refreshToken,
          accessExpiresAt: grant.accessExpiresAt,
          refreshExpiresAt: grant.refreshExpiresAt,
        },
      };
    },

    async rotateTokens(grant, tokens, now) {
      return storeRotation(grant, tokens, now);
    },

    async markNeedsReauth(grant, now, markOptions = {}) {
      const values: Record<string, unknown> = {
        ':needsReauth': GRANT_NEEDS_REAUTH,
        ':expected': grant.version,
        ':now': now,
      };
      let condition = 'attribute_exists(grantId) AND #version = :expected';
      if (markOptions.owner !== undefined) {
        condition += ' AND leaseOwner = :owner';
        values[':owner'] = markOptions.owner;
      }
      const sets = ['#status = :needsReauth', 'updatedAt = :now', 'needsReauthAt = :now'];
      if (markOptions.reason !== undefined) {
        sets.push('needsReauthReason = :reason');
        values[':reason'] = markOptions.reason;
      }
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { grantId: grant.grantId },
            // REMOVE dueShard: out of both due indexes, so no later run selects (and re-tries) it.
            UpdateExpression: `SET ${sets.join(', ')} REMOVE dueShard, leaseOwner, leaseUntil`,
            ConditionExpression: condition,
            ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        if (isConditionalFailure(error)) throw new GrantConflictError(grant.grantId);
        throw error;
      }
    },

    async deleteGrantIfUnused(grantId) {
      try {
        await client.send(
          new DeleteCommand({
            TableName: tableName,
            Key: { grantId },
            // Race-free: a vehicle added meanwhile makes the condition fail and the grant stays.
            ConditionExpression: 'attribute_exists(grantId) AND attribute_not_exists(vehicleIds)',
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalFailure(error)) return false;
        throw error;
      }
    },

    async listDue(index, dueBy) {
      const keyName = index === 'refresh' ? 'refreshExpiresAt' : 'accessExpiresAt';
      const found: DueGrant[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: index === 'refresh' ? BY_REFRESH_EXPIRY_INDEX : BY_ACCESS_EXPIRY_INDEX,
            // Key condition only (no filter): every item read is a due grant, so the read cost is the due count.
            KeyConditionExpression: 'dueShard = :due AND #expiry <= :dueBy',
            ExpressionAttributeNames: { '#expiry': keyName },
            ExpressionAttributeValues: { ':due': DUE_SHARD, ':dueBy': dueBy },
            Limit: DUE_PAGE_SIZE,
            ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
          }),
        );
        for (const item of page.Items ?? []) {
          if (typeof item.grantId !== 'string' || typeof item.version !== 'number') continue;
          found.push({
            grantId: item.grantId,
            version: item.version,
            ...(typeof item.accessExpiresAt === 'number' && { accessExpiresAt: item.accessExpiresAt }),
            ...(typeof item.refreshExpiresAt === 'number' && { refreshExpiresAt: item.refreshExpiresAt }),
          });
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return found;
    },

    async claimGrant(request) {
      if (!GRANT_ID.test(request.grantId)) return undefined;
      const leaseUntil = request.now + request.leaseMs;
      let result;
      try {
        result = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { grantId: request.grantId },
            UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :leaseUntil',
            ConditionExpression:
              'attribute_exists(grantId) AND #version = :expected AND #status = :active AND ' +
              '(attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
            ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
            ExpressionAttributeValues: {
              ':owner': request.owner,
              ':leaseUntil': leaseUntil,
              ':expected': request.version,
              ':active': GRANT_ACTIVE,
              ':now': request.now,
            },
            // The item before the claim: the ciphertexts (unchanged by the claim) and any previous, expired
            // lease, which tells that an earlier rotation was interrupted.
            ReturnValues: 'ALL_OLD',
          }),
        );
      } catch (error) {
        if (isConditionalFailure(error)) return undefined;
        throw error;
      }
      const item = result.Attributes ?? {};
      const grant = grantFromItem(item);
      const refreshCiphertext = requireString(item, 'refreshToken', grant.grantId);
      return {
        grant,
        owner: request.owner,
        leaseUntil,
        refreshToken: () =>
          cipher.decrypt(refreshCiphertext, {
            grantId: grant.grantId,
            appUserId: grant.appUserId,
            tokenType: 'refresh',
          }),
      };
    },

    async persistRotation(claim, tokens, now) {
      return storeRotation(claim.grant, tokens, now, claim.owner);
    },

    async releaseClaim(claim) {
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { grantId: claim.grant.grantId },
            UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
            ConditionExpression: 'attribute_exists(grantId) AND #version = :expected AND leaseOwner = :owner',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': claim.grant.version, ':owner': claim.owner },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalFailure(error)) return false;
        throw error;
      }
    },

    async readAccessToken(grantId) {
      const item = await getItem(grantId, true);
      if (!item) return undefined;
      const grant = grantFromItem(item);
      const accessToken = await cipher.decrypt(requireString(item, 'accessToken', grantId), {
        grantId,
        appUserId: grant.appUserId,
        tokenType: 'access',
      });
      return { grant, accessToken };
    },
  };
}
