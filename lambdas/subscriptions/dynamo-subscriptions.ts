import { paginateQuery, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import { subscriptionSk, SUBSCRIPTION_SK_PREFIX, vehiclePk } from '../vehicles/vehicle-keys.js';
import {
  ACTIVE,
  PENDING,
  REMOVED,
  type SubscriptionError,
  type SubscriptionRecord,
  type SubscriptionStatus,
  type SubscriptionStore,
} from './subscription.js';

/**
 * The subscription records in the vehicle state table (`VEHICLE#<id>` / `SUBSCRIPTION#<webhookId>`). Every write
 * is one conditional UpdateItem; a worker's late write never turns a REMOVED record (the vehicle was
 * disconnected meanwhile) back into something else.
 */

const STATUSES = new Set<string>([PENDING, ACTIVE, 'FAILED', REMOVED]);

function errorOf(value: unknown): SubscriptionError | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  return {
    type: typeof record.type === 'string' ? record.type : null,
    code: typeof record.code === 'string' ? record.code : null,
    ...(typeof record.statusCode === 'number' && { statusCode: record.statusCode }),
  };
}

/** A stored item → the record; undefined for an item that is not a readable subscription. */
export function toSubscriptionRecord(item: Record<string, unknown>): SubscriptionRecord | undefined {
  const { vehicleId, webhookId, status } = item;
  if (typeof vehicleId !== 'string' || typeof webhookId !== 'string') return undefined;
  if (typeof status !== 'string' || !STATUSES.has(status)) return undefined;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  const lastError = errorOf(item.lastError);
  const unsubscribeError = errorOf(item.unsubscribeError);
  const subscribedAt = number(item.subscribedAt);
  return {
    vehicleId,
    webhookId,
    status: status as SubscriptionStatus,
    attempts: number(item.attempts) ?? 0,
    ...(lastError && { lastError }),
    ...(unsubscribeError && { unsubscribeError }),
    createdAt: number(item.createdAt) ?? 0,
    updatedAt: number(item.updatedAt) ?? 0,
    ...(subscribedAt !== undefined && { subscribedAt }),
  };
}

function plainError(error: SubscriptionError): Record<string, unknown> {
  return {
    type: error.type,
    code: error.code,
    ...(error.statusCode !== undefined && { statusCode: error.statusCode }),
  };
}

export function dynamoSubscriptions(client: DynamoDBDocumentClient, tableName: string): SubscriptionStore {
  const key = (vehicleId: string, webhookId: string) => ({
    pk: vehiclePk(vehicleId),
    sk: subscriptionSk(webhookId),
  });

  async function update(input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) {
    try {
      await client.send(new UpdateCommand({ TableName: tableName, ...input }));
      return true;
    } catch (error) {
      if (isConditionalFailure(error)) return false;
      throw error;
    }
  }

  return {
    async list(vehicleId) {
      const records: SubscriptionRecord[] = [];
      for await (const page of paginateQuery(
        { client },
        {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': vehiclePk(vehicleId), ':prefix': SUBSCRIPTION_SK_PREFIX },
          ConsistentRead: true,
        },
      )) {
        for (const item of page.Items ?? []) {
          const record = toSubscriptionRecord(item);
          if (record) records.push(record);
        }
      }
      return records;
    },

    async markPending(vehicleId, webhookId, now, options = {}) {
      return update({
        Key: key(vehicleId, webhookId),
        UpdateExpression:
          'SET vehicleId = :vehicleId, webhookId = :webhookId, #status = :pending, attempts = :zero, ' +
          'createdAt = if_not_exists(createdAt, :now), updatedAt = :now REMOVE lastError, unsubscribeError',
        // An ACTIVE subscription stays as it is unless a re-run asks for it again.
        ...(options.force !== true && {
          ConditionExpression: 'attribute_not_exists(#status) OR #status <> :active',
        }),
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':vehicleId': vehicleId,
          ':webhookId': webhookId,
          ':pending': PENDING,
          ':zero': 0,
          ':now': now,
          ...(options.force !== true && { ':active': ACTIVE }),
        },
      });
    },

    async recordAttempt(vehicleId, webhookId, outcome, now) {
      const active = outcome.status === ACTIVE;
      return update({
        Key: key(vehicleId, webhookId),
        UpdateExpression: active
          ? 'SET #status = :status, attempts = if_not_exists(attempts, :zero) + :one, updatedAt = :now, subscribedAt = :now REMOVE lastError'
          : 'SET #status = :status, attempts = if_not_exists(attempts, :zero) + :one, updatedAt = :now, lastError = :error',
        ConditionExpression: 'attribute_exists(pk) AND #status <> :removed',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':status': outcome.status,
          ':zero': 0,
          ':one': 1,
          ':now': now,
          ':removed': REMOVED,
          ...(!active && 'error' in outcome && { ':error': plainError(outcome.error) }),
        },
      });
    },

    async recordRemoved(vehicleId, webhookId, error, now) {
      await update({
        Key: key(vehicleId, webhookId),
        UpdateExpression:
          error === undefined
            ? 'SET #status = :removed, updatedAt = :now REMOVE unsubscribeError'
            : 'SET #status = :removed, updatedAt = :now, unsubscribeError = :error',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':removed': REMOVED,
          ':now': now,
          ...(error !== undefined && { ':error': plainError(error) }),
        },
      });
    },
  };
}
