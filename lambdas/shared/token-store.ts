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
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from './dynamo-errors.js';
import type { TokenSet } from './smartcar-client.js';

/**
 * The grant repository (docs/design.md, "Token table"): one item per Connect authorization, holding its token
 * pair as KMS ciphertexts. Used by the callback (create), disconnect (delete when unused) and the refresh job
 * (read + decrypt, rotate with a conditional write on `version`, mark NEEDS_REAUTH).
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
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface NewGrant {
  /** Defaults to a random UUID. */
  readonly grantId?: string;
  readonly appUserId: string;
  readonly smartcarUserId: string;
  readonly scopes: readonly string[];
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
   * ACTIVE. Throws GrantConflictError when another writer won (re-read and decide again).
   */
  rotateTokens(grant: GrantRecord, tokens: TokenSet, now: number): Promise<GrantRecord>;
  /** Marks the grant NEEDS_REAUTH (refresh token rejected), conditional on `version`; GrantConflictError otherwise. */
  markNeedsReauth(grant: GrantRecord, now: number): Promise<void>;
  /** Deletes the grant if no vehicle uses it (`attribute_not_exists(vehicleIds)`); true when deleted. */
  deleteGrantIfUnused(grantId: string): Promise<boolean>;
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
    createdAt: requireNumber(item, 'createdAt', grantId),
    updatedAt: requireNumber(item, 'updatedAt', grantId),
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
        scopes: [...input.scopes],
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
      const { access, refresh } = await encryptPair(grant.grantId, grant.appUserId, tokens);
      try {
        const result = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { grantId: grant.grantId },
            UpdateExpression:
              'SET accessToken = :access, refreshToken = :refresh, keyId = :keyId, ' +
              'accessExpiresAt = :accessExpiresAt, refreshExpiresAt = :refreshExpiresAt, ' +
              '#version = :next, #status = :active, updatedAt = :now',
            ConditionExpression: 'attribute_exists(grantId) AND #version = :expected',
            ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
            ExpressionAttributeValues: {
              ':access': access.ciphertext,
              ':refresh': refresh.ciphertext,
              ':keyId': access.keyId,
              ':accessExpiresAt': tokens.accessExpiresAt,
              ':refreshExpiresAt': tokens.refreshExpiresAt,
              ':next': grant.version + 1,
              ':expected': grant.version,
              ':active': GRANT_ACTIVE,
              ':now': now,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return grantFromItem(result.Attributes ?? {});
      } catch (error) {
        if (isConditionalFailure(error)) throw new GrantConflictError(grant.grantId);
        throw error;
      }
    },

    async markNeedsReauth(grant, now) {
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { grantId: grant.grantId },
            UpdateExpression: 'SET #status = :needsReauth, updatedAt = :now',
            ConditionExpression: 'attribute_exists(grantId) AND #version = :expected',
            ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
            ExpressionAttributeValues: {
              ':needsReauth': GRANT_NEEDS_REAUTH,
              ':expected': grant.version,
              ':now': now,
            },
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
  };
}
