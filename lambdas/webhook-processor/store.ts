import {
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type PutCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import { PROFILE_SK, QUARANTINE_PK, quarantineSk, STATE_SK } from '../vehicles/vehicle-keys.js';
import { decodeState, encodeState, type VehicleState } from '../vehicles/vehicle-state.js';
import type { ChangeOutcome } from './merge.js';
import type { ProfileWrite, RawEventWrite } from './plan.js';

/**
 * The port of the vehicle state table and its DynamoDB adapter. The state item is read strongly consistent and
 * written back whole with `version = :read` (optimistic concurrency); the PROFILE and raw-event items keep their
 * conditional writes (never read-then-write). A failed condition means "the table already holds something newer
 * (or this very write)": stale, not an error.
 */

export interface QuarantineEntry {
  readonly messageId: string;
  /** SQS SentTimestamp: stable across redeliveries, so a redelivered message lands on the same key. */
  readonly receivedAt: number;
  readonly raw: string;
  readonly reason: string;
  readonly details: Readonly<Record<string, string | undefined>>;
  /** Epoch seconds (TTL). */
  readonly expiresAt: number;
}

export interface VehicleStore {
  /** The vehicle's state item (empty state, version 0, when there is none). */
  load(pk: string): Promise<VehicleState>;
  /** Writes `state` as version `state.version + 1` if the item is still at `state.version`. */
  save(pk: string, state: VehicleState): Promise<'saved' | 'conflict'>;
  writeProfile(change: ProfileWrite): Promise<ChangeOutcome>;
  putRawEvent(intent: RawEventWrite): Promise<ChangeOutcome>;
  /** Stores a poison message once; a redelivery of the same message finds it there. */
  quarantine(entry: QuarantineEntry): Promise<'stored' | 'exists'>;
}

/**
 * Profile: newer event wins; only the fields the event carries are SET, each through a `#name` placeholder
 * (`year`, `model`, … are reserved words); `status` is left alone (absent = CONNECTED, other flows set it).
 */
function profileUpdate(tableName: string, intent: ProfileWrite): UpdateCommandInput {
  const set = {
    vehicleId: intent.vehicleId,
    smartcarUserId: intent.smartcarUserId,
    make: intent.make,
    model: intent.model,
    year: intent.year,
    updatedAt: intent.at,
  };
  const present = Object.entries(set).filter(([, value]) => value !== undefined);
  return {
    TableName: tableName,
    Key: { pk: intent.pk, sk: PROFILE_SK },
    UpdateExpression: `SET ${present.map(([name]) => `#${name} = :${name}`).join(', ')}`,
    ConditionExpression: 'attribute_not_exists(#updatedAt) OR #updatedAt < :updatedAt',
    ExpressionAttributeNames: Object.fromEntries(present.map(([name]) => [`#${name}`, name])),
    ExpressionAttributeValues: Object.fromEntries(present.map(([name, value]) => [`:${name}`, value])),
  };
}

/** Raw event: written once; a repeat of the same message finds the item and is a no-op. */
function rawEventPut(tableName: string, intent: RawEventWrite): PutCommandInput {
  return {
    TableName: tableName,
    Item: {
      pk: intent.pk,
      sk: intent.sk,
      eventType: intent.eventType,
      eventId: intent.eventId,
      raw: intent.raw,
      receivedAt: intent.receivedAt,
      expiresAt: intent.expiresAt,
    },
    ConditionExpression: 'attribute_not_exists(#sk)',
    ExpressionAttributeNames: { '#sk': 'sk' },
  };
}

/** The state item, whole: the version condition makes a concurrent writer's merge win or retry, never vanish. */
function statePut(tableName: string, pk: string, state: VehicleState): PutCommandInput {
  return {
    TableName: tableName,
    Item: { pk, sk: STATE_SK, ...encodeState({ ...state, version: state.version + 1 }) },
    ...(state.version === 0
      ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } }
      : {
          ConditionExpression: '#version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':version': state.version },
        }),
  };
}

async function conditional(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionalFailure(error)) return false;
    throw error;
  }
}

export function dynamoVehicleStore(client: DynamoDBDocumentClient, tableName: string): VehicleStore {
  return {
    async load(pk) {
      const { Item } = await client.send(
        new GetCommand({ TableName: tableName, Key: { pk, sk: STATE_SK }, ConsistentRead: true }),
      );
      return decodeState(Item);
    },
    async save(pk, state) {
      const saved = await conditional(client.send(new PutCommand(statePut(tableName, pk, state))));
      return saved ? 'saved' : 'conflict';
    },
    async writeProfile(change) {
      const written = await conditional(client.send(new UpdateCommand(profileUpdate(tableName, change))));
      return written ? 'written' : 'stale';
    },
    async putRawEvent(intent) {
      const written = await conditional(client.send(new PutCommand(rawEventPut(tableName, intent))));
      return written ? 'written' : 'stale';
    },
    async quarantine(entry) {
      const stored = await conditional(
        client.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              pk: QUARANTINE_PK,
              sk: quarantineSk(entry.receivedAt, entry.messageId),
              messageId: entry.messageId,
              receivedAt: entry.receivedAt,
              raw: entry.raw,
              reason: entry.reason,
              details: Object.fromEntries(
                Object.entries(entry.details).filter(([, value]) => value !== undefined),
              ),
              expiresAt: entry.expiresAt,
            },
            ConditionExpression: 'attribute_not_exists(#sk)',
            ExpressionAttributeNames: { '#sk': 'sk' },
          }),
        ),
      );
      return stored ? 'stored' : 'exists';
    },
  };
}
