import { randomBytes } from 'node:crypto';
import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';

/**
 * Single-use OAuth `state` records (docs/design.md, "OAuth state table"). The state binds a Connect visit to the
 * app user who started it, so a code that comes back is linked to that user and nobody else (CSRF / login-CSRF
 * protection), and it can be used once only.
 */

export const CONNECT_FLOW = 'connect';
/** Connect sessions and codes live 10 minutes at Smartcar; a state outliving them would be useless. */
export const STATE_TTL_SECONDS = 600;
const STATE_BYTES = 32;
/** base64url of 32 bytes, no padding: exactly 43 characters. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface OAuthStateRecord {
  readonly state: string;
  readonly flow: string;
  readonly appUserId: string;
  readonly scopes: readonly string[];
  readonly mode: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch seconds (the table's TTL attribute). */
  readonly expiresAt: number;
  readonly consumedAt?: number;
}

/** 256 random bits, base64url. */
export function newState(): string {
  return randomBytes(STATE_BYTES).toString('base64url');
}

/** Anything else cannot be one of ours; checked before any DynamoDB call (and keeps odd keys out of it). */
export function isWellFormedState(value: string): boolean {
  return STATE_PATTERN.test(value);
}

export interface OAuthStateStore {
  /** Stores a new unused record; `state` defaults to a fresh newState(). */
  create(input: {
    readonly state?: string;
    readonly appUserId: string;
    readonly scopes: readonly string[];
    readonly mode: string;
    readonly now: number;
  }): Promise<OAuthStateRecord>;
  /**
   * Marks the state used, atomically, if it exists, belongs to the connect flow, is unused and unexpired.
   * Returns the record, or undefined when any of that is not true (the caller must then do nothing else).
   */
  consume(state: string, now: number): Promise<OAuthStateRecord | undefined>;
}

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
