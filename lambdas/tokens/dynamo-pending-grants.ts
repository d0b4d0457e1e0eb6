import { DeleteCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { BY_REFRESH_EXPIRY_INDEX, DUE_SHARD } from '../../contracts/index.js';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import { queryIndexPage } from '../runtime/dynamo-query.js';
import {
  GRANT_ACTIVE,
  GRANT_PENDING,
  GRANT_REVOKING,
  GrantConflictError,
  type GrantRecord,
} from './grant.js';
import type { TokenStore } from './token-store.js';

/**
 * The token store's (dynamo-token-store.ts) operations on a grant before and after its active life: a pending
 * grant of a Connect completed, confirmed or expired, and a revoking grant deleted.
 */

/**
 * `dueShard` of PENDING and REVOKING grants: out of the refresh job's partition, and — the pending set being
 * small (the Connects of the last `connectConfirmMinutes`) — listed whole by the connect expiry job with one
 * Query of `byRefreshExpiry` on this partition.
 */
export const PENDING_SHARD = 'PENDING';

/** Query page size of the due indexes (items are ~100 bytes: one page is far below the 1 MB limit). */
export const DUE_PAGE_SIZE = 500;

export type PendingGrantOperations = Pick<
  TokenStore,
  | 'completePending'
  | 'expirePendingNow'
  | 'activatePending'
  | 'finishLinking'
  | 'markRevoking'
  | 'deleteRevoked'
  | 'listPending'
>;

/** `updateGrant`: the store's conditional UpdateItem (the grant after it, undefined when the condition failed). */
export function pendingGrantOperations(
  client: DynamoDBDocumentClient,
  tableName: string,
  updateGrant: (
    grantId: string,
    update: Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'>,
  ) => Promise<GrantRecord | undefined>,
): PendingGrantOperations {
  return {
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
  };
}
