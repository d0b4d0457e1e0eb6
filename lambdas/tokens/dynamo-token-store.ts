import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import { queryIndexPage } from '../runtime/dynamo-query.js';
import type { TokenSet } from '../smartcar/gateway.js';
import {
  GRANT_ACTIVE,
  GRANT_NEEDS_REAUTH,
  GRANT_PENDING,
  GRANT_REVOKING,
  GrantConflictError,
  MalformedGrantError,
  type DueGrant,
  type GrantRecord,
} from './grant.js';
import type { TokenCipher } from './token-cipher.js';
import type { TokenStore } from './token-store.js';

/**
 * The token store on the token table (docs/design.md, "Token table"): one item per grant, each token a KMS
 * ciphertext (see token-cipher.ts); every token write conditional on `version` (and on the lease for a claim).
 */

// The due-time GSIs and their partition key value (docs/design.md, "Selection"), declared in contracts/tables.ts.
import { BY_ACCESS_EXPIRY_INDEX, BY_REFRESH_EXPIRY_INDEX, DUE_SHARD } from '../../contracts/index.js';

export { BY_ACCESS_EXPIRY_INDEX, BY_REFRESH_EXPIRY_INDEX, DUE_SHARD };
/**
 * `dueShard` of PENDING and REVOKING grants: out of the refresh job's partition, and — the pending set being
 * small (the Connects of the last `connectConfirmMinutes`) — listed whole by the connect expiry job with one
 * Query of `byRefreshExpiry` on this partition.
 */
export const PENDING_SHARD = 'PENDING';
/** Query page size of the due indexes (items are ~100 bytes: one page is far below the 1 MB limit). */
const DUE_PAGE_SIZE = 500;

/** Every attribute `grantFromItem` reads (a Scan projection without the ciphertexts). */
const GRANT_METADATA = [
  'grantId',
  'appUserId',
  'smartcarUserId',
  'keyId',
  'accessExpiresAt',
  'refreshExpiresAt',
  'version',
  'vehicleIds',
  'status',
  'scopes',
  'createdAt',
  'updatedAt',
  'pendingVehicleIds',
  'connectVehicleIds',
  'connectExpiresAt',
] as const;

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
  const status =
    item.status === GRANT_NEEDS_REAUTH || item.status === GRANT_PENDING || item.status === GRANT_REVOKING
      ? item.status
      : GRANT_ACTIVE;
  const smartcarUserId = item.smartcarUserId;
  // Only a grant stored right after the exchange may lack it (it is completed just after, or revoked).
  if (status === GRANT_ACTIVE || status === GRANT_NEEDS_REAUTH)
    requireString(item, 'smartcarUserId', grantId);
  return {
    grantId: requireString(item, 'grantId', grantId),
    appUserId: requireString(item, 'appUserId', grantId),
    ...(typeof smartcarUserId === 'string' && smartcarUserId !== '' && { smartcarUserId }),
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
    pendingVehicleIds: stringList(item.pendingVehicleIds),
    connectVehicleIds: stringList(item.connectVehicleIds),
    ...(typeof item.connectExpiresAt === 'number' && { connectExpiresAt: item.connectExpiresAt }),
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
   * Stores a rotated pair: new ciphertexts and expiries, `version + 1`, ACTIVE, back in the due indexes,
   * `rotatedBy = owner`; the lease and any NEEDS_REAUTH mark removed (a lease on the old version is meaningless
   * now, so the next claim need not wait for it). GrantConflictError when `condition` fails.
   */
  async function writeRotatedPair(write: {
    readonly grantId: string;
    readonly appUserId: string;
    readonly version: number;
    readonly owner: string;
    readonly tokens: TokenSet;
    readonly now: number;
    readonly condition: string;
    readonly returnValues: 'ALL_NEW' | 'ALL_OLD';
  }): Promise<{ attributes: Record<string, unknown> }> {
    const { access, refresh } = await encryptPair(write.grantId, write.appUserId, write.tokens);
    try {
      const result = await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { grantId: write.grantId },
          UpdateExpression:
            'SET accessToken = :access, refreshToken = :refresh, keyId = :keyId, ' +
            'accessExpiresAt = :accessExpiresAt, refreshExpiresAt = :refreshExpiresAt, ' +
            '#version = :next, #status = :active, dueShard = :due, rotatedBy = :owner, updatedAt = :now ' +
            'REMOVE leaseOwner, leaseUntil, needsReauthReason, needsReauthAt',
          ConditionExpression: write.condition,
          ExpressionAttributeNames: { '#version': 'version', '#status': 'status' },
          ExpressionAttributeValues: {
            ':access': access.ciphertext,
            ':refresh': refresh.ciphertext,
            ':keyId': access.keyId,
            ':accessExpiresAt': write.tokens.accessExpiresAt,
            ':refreshExpiresAt': write.tokens.refreshExpiresAt,
            ':next': write.version + 1,
            ':expected': write.version,
            ':active': GRANT_ACTIVE,
            ':due': DUE_SHARD,
            ':owner': write.owner,
            ':now': write.now,
          },
          ReturnValues: write.returnValues,
        }),
      );
      return { attributes: result.Attributes ?? {} };
    } catch (error) {
      if (isConditionalFailure(error)) throw new GrantConflictError(write.grantId);
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

  /** A conditional UpdateItem of a grant: the grant after it, or undefined when the condition failed. */
  async function updateGrant(
    grantId: string,
    update: Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'>,
  ): Promise<GrantRecord | undefined> {
    try {
      const result = await client.send(
        new UpdateCommand({ ...update, TableName: tableName, Key: { grantId }, ReturnValues: 'ALL_NEW' }),
      );
      return grantFromItem(result.Attributes ?? {});
    } catch (error) {
      if (isConditionalFailure(error)) return undefined;
      throw error;
    }
  }

  return {
    async createGrant(input) {
      const grantId = input.grantId ?? randomUUID();
      const { access, refresh } = await encryptPair(grantId, input.appUserId, input.tokens);
      const pending = input.pendingUntil !== undefined;
      const item = {
        grantId,
        appUserId: input.appUserId,
        ...(input.smartcarUserId !== undefined && { smartcarUserId: input.smartcarUserId }),
        accessToken: access.ciphertext,
        refreshToken: refresh.ciphertext,
        keyId: access.keyId,
        accessExpiresAt: input.tokens.accessExpiresAt,
        refreshExpiresAt: input.tokens.refreshExpiresAt,
        version: 1,
        status: pending ? GRANT_PENDING : GRANT_ACTIVE,
        // ACTIVE: in the due-time indexes from the start (the refresh job finds it when its refresh token nears
        // expiry). PENDING: in the expiry job's partition instead, until confirmed.
        dueShard: pending ? PENDING_SHARD : DUE_SHARD,
        ...(pending && { connectExpiresAt: input.pendingUntil }),
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
      const { grant, owner } = claim;
      // Not conditional on leaseUntil: a holder whose lease ran out may still store its pair as long as
      // nobody took the grant over (leaseOwner unchanged); that pair is the newest Smartcar issued.
      const { attributes } = await writeRotatedPair({
        grantId: grant.grantId,
        appUserId: grant.appUserId,
        version: grant.version,
        owner,
        tokens,
        now,
        condition: 'attribute_exists(grantId) AND #version = :expected AND leaseOwner = :owner',
        returnValues: 'ALL_NEW',
      });
      return grantFromItem(attributes);
    },

    async applyParkedRotation(parked, tokens, now) {
      // The claimed version still stored (also when a later claimant marked it NEEDS_REAUTH), and no live
      // lease of somebody else: that claimant may be exchanging right now and will store its own pair.
      const { attributes } = await writeRotatedPair({
        grantId: parked.grantId,
        appUserId: parked.appUserId,
        version: parked.claimedVersion,
        owner: parked.owner,
        tokens,
        now,
        condition:
          'attribute_exists(grantId) AND #version = :expected AND ' +
          '(attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner)',
        returnValues: 'ALL_OLD',
      });
      return grantFromItem(attributes);
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

    async completePending(grantId, completion, now) {
      const grant = await updateGrant(grantId, {
        UpdateExpression:
          'SET smartcarUserId = :user, pendingVehicleIds = :vehicles, connectVehicleIds = :vehicles, ' +
          `updatedAt = :now${completion.permissions !== undefined ? ', #permissions = :permissions' : ''}`,
        ConditionExpression: 'attribute_exists(grantId) AND #status = :pending',
        // `permissions` is a DynamoDB reserved word.
        ExpressionAttributeNames: {
          '#status': 'status',
          ...(completion.permissions !== undefined && { '#permissions': 'permissions' }),
        },
        ExpressionAttributeValues: {
          ':user': completion.smartcarUserId,
          ':vehicles': new Set(completion.vehicleIds),
          ':pending': GRANT_PENDING,
          ':now': now,
          ...(completion.permissions !== undefined && { ':permissions': [...completion.permissions] }),
        },
      });
      if (!grant) throw new GrantConflictError(grantId);
      return grant;
    },

    async expirePendingNow(grantId, now) {
      const grant = await updateGrant(grantId, {
        UpdateExpression: 'SET connectExpiresAt = :now, updatedAt = :now',
        ConditionExpression: 'attribute_exists(grantId) AND #status = :pending',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pending': GRANT_PENDING, ':now': now },
      });
      return grant !== undefined;
    },

    async activatePending(grantId, appUserId, now) {
      const grant = await updateGrant(grantId, {
        // Into the refresh indexes; `pendingVehicleIds` stays until every vehicle is linked.
        UpdateExpression:
          'SET #status = :active, dueShard = :due, confirmedAt = :now, updatedAt = :now REMOVE connectExpiresAt',
        // Not once the window has passed (the expiry job may be revoking it), never for another user, and only
        // once the callback knew its Smartcar user and vehicles.
        ConditionExpression:
          'attribute_exists(grantId) AND #status = :pending AND appUserId = :user AND ' +
          'connectExpiresAt > :now AND attribute_exists(smartcarUserId)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':active': GRANT_ACTIVE,
          ':pending': GRANT_PENDING,
          ':due': DUE_SHARD,
          ':user': appUserId,
          ':now': now,
        },
      });
      if (!grant) throw new GrantConflictError(grantId);
      return grant;
    },

    async finishLinking(grantId, now) {
      await updateGrant(grantId, {
        UpdateExpression: 'REMOVE pendingVehicleIds SET updatedAt = :now',
        ConditionExpression: 'attribute_exists(grantId)',
        ExpressionAttributeValues: { ':now': now },
      });
    },

    async markRevoking(grantId, now, revokeOptions = {}) {
      let condition = 'attribute_exists(grantId) AND (#status = :pending OR #status = :revoking)';
      if (revokeOptions.expiredOnly === true) {
        condition += ' AND (#status = :revoking OR connectExpiresAt <= :now)';
      }
      return updateGrant(grantId, {
        UpdateExpression: 'SET #status = :revoking, updatedAt = :now',
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pending': GRANT_PENDING, ':revoking': GRANT_REVOKING, ':now': now },
      });
    },

    async deleteRevoked(grantId) {
      try {
        await client.send(
          new DeleteCommand({
            TableName: tableName,
            Key: { grantId },
            ConditionExpression: 'attribute_exists(grantId) AND #status = :revoking',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':revoking': GRANT_REVOKING },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalFailure(error)) return false;
        throw error;
      }
    },

    async listPending() {
      const ids: string[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await queryIndexPage(client, {
          tableName,
          indexName: BY_REFRESH_EXPIRY_INDEX,
          key: 'dueShard',
          value: PENDING_SHARD,
          limit: DUE_PAGE_SIZE,
          startKey,
        });
        for (const item of page.items) if (typeof item.grantId === 'string') ids.push(item.grantId);
        startKey = page.lastKey;
      } while (startKey !== undefined);
      return ids;
    },

    async listAllGrants() {
      const grants: GrantRecord[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({
            TableName: tableName,
            // Metadata only: the ciphertexts are most of an item's size and are not needed here.
            ProjectionExpression: GRANT_METADATA.map((_, i) => `#a${i}`).join(', '),
            ExpressionAttributeNames: Object.fromEntries(GRANT_METADATA.map((name, i) => [`#a${i}`, name])),
            ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
          }),
        );
        for (const item of page.Items ?? []) {
          try {
            grants.push(grantFromItem(item));
          } catch (error) {
            if (!(error instanceof MalformedGrantError)) throw error;
          }
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return grants;
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
