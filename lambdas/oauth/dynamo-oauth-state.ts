import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import {
  CONNECT_FLOW,
  isWellFormedState,
  newState,
  STATE_TTL_SECONDS,
  type OAuthStateRecord,
  type OAuthStateStore,
} from './oauth-state.js';

/** The OAuth state table: one item per state, consumed by one conditional write. */

function recordOf(item: Record<string, unknown> | undefined): OAuthStateRecord | undefined {
  if (!item) return undefined;
  const { state, flow, appUserId, mode, createdAt, expiresAt, consumedAt, scopes } = item;
  if (
    typeof state !== 'string' ||
    typeof flow !== 'string' ||
    typeof appUserId !== 'string' ||
    typeof expiresAt !== 'number'
  ) {
    return undefined;
  }
  return {
    state,
    flow,
    appUserId,
    scopes: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
    mode: typeof mode === 'string' ? mode : 'live',
    createdAt: typeof createdAt === 'number' ? createdAt : 0,
    expiresAt,
    ...(typeof consumedAt === 'number' && { consumedAt }),
  };
}

export function dynamoOAuthStateStore(client: DynamoDBDocumentClient, tableName: string): OAuthStateStore {
  return {
    async create({ state = newState(), appUserId, scopes, mode, now }) {
      if (!isWellFormedState(state)) throw new Error('state must be 32 random bytes, base64url');
      const record: OAuthStateRecord = {
        state,
        flow: CONNECT_FLOW,
        appUserId,
        scopes: [...scopes],
        mode,
        createdAt: now,
        expiresAt: Math.floor(now / 1000) + STATE_TTL_SECONDS,
      };
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: record,
          // A collision of 256 random bits will not happen; if it did, failing beats overwriting.
          ConditionExpression: 'attribute_not_exists(#state)',
          ExpressionAttributeNames: { '#state': 'state' },
        }),
      );
      return record;
    },

    async consume(state, now) {
      if (!isWellFormedState(state)) return undefined;
      try {
        const result = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { state },
            UpdateExpression: 'SET consumedAt = :now',
            // One conditional write decides everything: a concurrent second callback loses here. Expiry is
            // checked too because TTL deletion is lazy (an expired record can linger for days).
            ConditionExpression:
              'attribute_exists(#state) AND #flow = :connect AND attribute_not_exists(consumedAt) AND expiresAt > :nowSeconds',
            ExpressionAttributeNames: { '#state': 'state', '#flow': 'flow' },
            ExpressionAttributeValues: {
              ':now': now,
              ':connect': CONNECT_FLOW,
              ':nowSeconds': Math.floor(now / 1000),
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return recordOf(result.Attributes);
      } catch (error) {
        if (isConditionalFailure(error)) return undefined;
        throw error;
      }
    },
  };
}
