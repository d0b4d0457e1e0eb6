import {
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type PutCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import type { VehicleWriter } from './apply.js';
import type {
  ProfileWrite,
  RawEventWrite,
  SignalErrorWrite,
  SignalValueWrite,
  VehicleErrorWrite,
  WriteIntent,
} from './plan.js';

/**
 * DynamoDB adapter: executes write intents as conditional writes (never read-then-write). A failed condition
 * means "the table already holds something newer (or this very write)": the intent is stale, not an error.
 */

// ---------------------------------------------------------------------------------------------------------------
// Expression building. Every attribute goes through a `#name` placeholder (status, name, group, … are
// reserved words) and every value through a `:value` placeholder named after its attribute.

interface UpdateSpec {
  /** Attributes to SET; an `undefined` value is skipped, or REMOVEd if listed in `removeWhenMissing`. */
  readonly set: Record<string, unknown>;
  readonly removeWhenMissing?: readonly string[];
  readonly remove?: readonly string[];
  /** Uses `#attr` for attributes and `:attr` for values of `set` or `conditionValues`. */
  readonly condition: string;
  readonly conditionAttributes?: readonly string[];
  readonly conditionValues?: Record<string, unknown>;
}

function updateInput(
  tableName: string,
  key: { pk: string; sk: string },
  spec: UpdateSpec,
): UpdateCommandInput {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const assignments: string[] = [];
  const removals: string[] = [...(spec.remove ?? [])];
  for (const [attribute, value] of Object.entries(spec.set)) {
    if (value === undefined) {
      if (spec.removeWhenMissing?.includes(attribute)) removals.push(attribute);
      continue;
    }
    names[`#${attribute}`] = attribute;
    values[`:${attribute}`] = value;
    assignments.push(`#${attribute} = :${attribute}`);
  }
  for (const attribute of [...removals, ...(spec.conditionAttributes ?? [])])
    names[`#${attribute}`] = attribute;
  for (const [name, value] of Object.entries(spec.conditionValues ?? {})) values[`:${name}`] = value;
  const clauses = [`SET ${assignments.join(', ')}`];
  if (removals.length > 0) clauses.push(`REMOVE ${removals.map((attribute) => `#${attribute}`).join(', ')}`);
  return {
    TableName: tableName,
    // Only the key attributes: DynamoDB rejects a Key with anything else in it.
    Key: { pk: key.pk, sk: key.sk },
    UpdateExpression: clauses.join(' '),
    ConditionExpression: spec.condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** The named attributes of an intent, under their own names and in this order (the SET clause's order). */
function pick<T extends object>(
  intent: T,
  attributes: readonly (keyof T & string)[],
): Record<string, unknown> {
  return Object.fromEntries(attributes.map((attribute) => [attribute, intent[attribute]]));
}

/** Profile: newer event wins; `status` is left alone (absent = CONNECTED, other flows set it). */
function profileUpdate(tableName: string, intent: ProfileWrite): UpdateCommandInput {
  return updateInput(tableName, intent, {
    set: { ...pick(intent, ['vehicleId', 'smartcarUserId', 'make', 'model', 'year']), updatedAt: intent.at },
    condition: 'attribute_not_exists(#updatedAt) OR #updatedAt < :updatedAt',
  });
}

/**
 * Signal value: `orderKey < :new` (strictly older) so a replay of the same value is a no-op; a good value clears
 * the last error. Without any timestamp it is only written where there is no value yet.
 */
function signalValueUpdate(tableName: string, intent: SignalValueWrite): UpdateCommandInput {
  const hasOrder = intent.orderKey !== undefined;
  return updateInput(tableName, intent, {
    set: {
      ...pick(intent, [
        'code',
        'name',
        'group',
        'body',
        'status',
        'oemUpdatedAt',
        'retrievedAt',
        'orderKey',
        'eventId',
      ]),
      updatedAt: intent.at,
    },
    // A value's timestamps describe that value only; never leave an older value's behind.
    removeWhenMissing: ['oemUpdatedAt', 'retrievedAt'],
    remove: ['error', 'errorAt'],
    condition: hasOrder
      ? 'attribute_not_exists(#orderKey) OR #orderKey < :orderKey'
      : 'attribute_not_exists(#body)',
    conditionAttributes: hasOrder ? [] : ['body'],
  });
}

/** Signal error: status/error/errorAt only — body, oemUpdatedAt and retrievedAt of the last good value stay. */
function signalErrorUpdate(tableName: string, intent: SignalErrorWrite): UpdateCommandInput {
  return updateInput(tableName, intent, {
    set: {
      ...pick(intent, ['code', 'name', 'group', 'status', 'error']),
      errorAt: intent.at,
      updatedAt: intent.at,
    },
    condition:
      '(attribute_not_exists(#errorAt) OR #errorAt < :errorAt) AND ' +
      '(attribute_not_exists(#retrievedAt) OR #retrievedAt < :errorAt)',
    conditionAttributes: ['retrievedAt'],
  });
}

/** Vehicle error: newer report per (type, code) wins; RESOLVED keeps a tombstone with a TTL, ERROR clears it. */
function vehicleErrorUpdate(tableName: string, intent: VehicleErrorWrite): UpdateCommandInput {
  return updateInput(tableName, intent, {
    set: {
      ...pick(intent, ['type', 'code', 'description', 'resolution', 'signals', 'state', 'at', 'expiresAt']),
    },
    removeWhenMissing: ['expiresAt'],
    condition: 'attribute_not_exists(#at) OR #at < :at',
  });
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

function updateFor(tableName: string, intent: Exclude<WriteIntent, RawEventWrite>): UpdateCommandInput {
  switch (intent.kind) {
    case 'profile':
      return profileUpdate(tableName, intent);
    case 'signal-value':
      return signalValueUpdate(tableName, intent);
    case 'signal-error':
      return signalErrorUpdate(tableName, intent);
    case 'vehicle-error':
      return vehicleErrorUpdate(tableName, intent);
  }
}

export function dynamoVehicleWriter(client: DynamoDBDocumentClient, tableName: string): VehicleWriter {
  return {
    async write(intent) {
      try {
        if (intent.kind === 'raw-event') await client.send(new PutCommand(rawEventPut(tableName, intent)));
        else await client.send(new UpdateCommand(updateFor(tableName, intent)));
        return 'written';
      } catch (error) {
        if (isConditionalFailure(error)) return 'stale';
        throw error;
      }
    },
  };
}
