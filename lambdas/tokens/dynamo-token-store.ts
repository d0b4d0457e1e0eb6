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
import type { TokenSet } from '../smartcar/gateway.js';
import {
  GRANT_ACTIVE,
  GRANT_NEEDS_REAUTH,
  GRANT_PENDING,
  GrantConflictError,
  MalformedGrantError,
  type DueGrant,
  type GrantRecord,
} from './grant.js';
import type { TokenCipher } from './token-cipher.js';
import { DUE_PAGE_SIZE, PENDING_SHARD, pendingGrantOperations } from './dynamo-pending-grants.js';
import { GRANT_ID, GRANT_METADATA, grantFromItem, requireString } from './grant-item.js';
import type { TokenStore } from './token-store.js';

/**
 * The token store on the token table (docs/design.md, "Token table"): one item per grant, each token a KMS
 * ciphertext (see token-cipher.ts); every token write conditional on `version` (and on the lease for a claim).
 */

// The due-time GSIs and their partition key value (docs/design.md, "Selection"), declared in contracts/tables.ts.
import { BY_ACCESS_EXPIRY_INDEX, BY_REFRESH_EXPIRY_INDEX, DUE_SHARD } from '../../contracts/index.js';

export { BY_ACCESS_EXPIRY_INDEX, BY_REFRESH_EXPIRY_INDEX, DUE_SHARD };
export { PENDING_SHARD } from './dynamo-pending-grants.js';
export { grantFromItem } from './grant-item.js';

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
    ...pendingGrantOperations(client, tableName, updateGrant),

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
