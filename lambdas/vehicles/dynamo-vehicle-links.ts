import {
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mapWithLimit } from '../runtime/concurrency.js';
import { isConditionalFailure, isRetryableTransactionCancel } from '../runtime/dynamo-errors.js';
import { BY_APP_USER_INDEX, PROFILE_SK, vehiclePk } from './vehicle-keys.js';
import {
  LinkContentionError,
  type ProfileLink,
  type VehicleLinkStore,
  type VehicleReauthMarker,
} from './vehicle-links.js';
import { CONNECTED, DISCONNECTED, NEEDS_REAUTH } from './vehicle-status.js';

/**
 * The writer of a profile's connection attributes (see vehicle-links.ts). Every change of a profile's `grantId`
 * and of the grants' `vehicleIds` happens in one transaction, conditional on the `grantId` read just before, so
 * the two tables never disagree about which grant a vehicle uses, even with concurrent callbacks for the same
 * vehicle. NEEDS_REAUTH is written conditional on the profile still pointing at the grant.
 */

/** Re-reads after a lost race before giving up (each attempt is two reads and one transaction). */
const MAX_ATTEMPTS = 4;
/** Vehicle profiles marked NEEDS_REAUTH at once. */
const PROFILE_CONCURRENCY = 5;

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function profileKey(vehicleId: string): { pk: string; sk: string } {
  return { pk: vehiclePk(vehicleId), sk: PROFILE_SK };
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export function dynamoVehicleLinks(options: {
  readonly client: DynamoDBDocumentClient;
  readonly vehicleTableName: string;
  readonly tokenTableName: string;
}): VehicleLinkStore {
  const { client, vehicleTableName, tokenTableName } = options;

  async function getProfile(vehicleId: string): Promise<ProfileLink | undefined> {
    const result = await client.send(
      new GetCommand({
        TableName: vehicleTableName,
        Key: profileKey(vehicleId),
        ConsistentRead: true,
        ProjectionExpression: 'appUserId, grantId, smartcarUserId, #status',
        ExpressionAttributeNames: { '#status': 'status' },
      }),
    );
    if (!result.Item) return undefined;
    const item = result.Item;
    const appUserId = optionalString(item.appUserId);
    const grantId = optionalString(item.grantId);
    const smartcarUserId = optionalString(item.smartcarUserId);
    const status = optionalString(item.status);
    return {
      vehicleId,
      ...(appUserId !== undefined && { appUserId }),
      ...(grantId !== undefined && { grantId }),
      ...(smartcarUserId !== undefined && { smartcarUserId }),
      ...(status !== undefined && { status }),
    };
  }

  async function grantExists(grantId: string): Promise<boolean> {
    const result = await client.send(
      new GetCommand({
        TableName: tokenTableName,
        Key: { grantId },
        ConsistentRead: true,
        ProjectionExpression: 'grantId',
      }),
    );
    return result.Item !== undefined;
  }

  /** The profile condition: still on the grant we read (or still on none). */
  function onGrant(grantId: string | undefined): {
    ConditionExpression: string;
    values: Record<string, unknown>;
  } {
    return grantId === undefined
      ? { ConditionExpression: 'attribute_not_exists(grantId)', values: {} }
      : { ConditionExpression: 'grantId = :expectedGrant', values: { ':expectedGrant': grantId } };
  }

  function removeFromGrant(grantId: string, vehicleId: string, now: number): TransactItem {
    return {
      Update: {
        TableName: tokenTableName,
        Key: { grantId },
        UpdateExpression: 'DELETE vehicleIds :vehicle SET updatedAt = :now',
        // Without it, an update of a deleted grant would re-create a key-only item.
        ConditionExpression: 'attribute_exists(grantId)',
        ExpressionAttributeValues: { ':vehicle': new Set([vehicleId]), ':now': now },
      },
    };
  }

  async function retrying<T>(vehicleId: string, attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; i < MAX_ATTEMPTS; i += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!isRetryableTransactionCancel(error)) throw error;
      }
    }
    throw new LinkContentionError(vehicleId);
  }

  return {
    getProfile,

    link(input) {
      const { vehicleId, grantId, now } = input;
      return retrying(vehicleId, async () => {
        const previous = (await getProfile(vehicleId))?.grantId;
        const moveFrom = previous !== undefined && previous !== grantId ? previous : undefined;
        const previousExists = moveFrom !== undefined && (await grantExists(moveFrom));

        const names: Record<string, string> = { '#status': 'status' };
        const values: Record<string, unknown> = {
          ':vehicleId': vehicleId,
          ':appUserId': input.appUserId,
          ':grantId': grantId,
          ':smartcarUserId': input.smartcarUserId,
          ':connected': CONNECTED,
          ':now': now,
        };
        const sets = [
          'vehicleId = :vehicleId',
          'appUserId = :appUserId',
          'grantId = :grantId',
          'smartcarUserId = :smartcarUserId',
          '#status = :connected',
          'connectedAt = :now',
        ];
        // Only what Smartcar told us: an unknown attribute does not erase one the processor stored.
        for (const [field, value] of [
          ['make', input.make],
          ['model', input.model],
          ['year', input.year],
        ] as const) {
          if (value === null) continue;
          names[`#${field}`] = field;
          values[`:${field}`] = value;
          sets.push(`#${field} = :${field}`);
        }
        const removes = ['disconnectedAt'];
        if (input.permissions !== undefined && input.permissions.length > 0) {
          values[':permissions'] = [...input.permissions];
          sets.push('#permissions = :permissions');
        } else {
          removes.push('#permissions');
        }
        // A reserved word in DynamoDB expressions.
        names['#permissions'] = 'permissions';
        const condition = onGrant(previous);
        const items: TransactItem[] = [
          {
            Update: {
              TableName: vehicleTableName,
              Key: profileKey(vehicleId),
              UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
              ConditionExpression: condition.ConditionExpression,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: { ...values, ...condition.values },
            },
          },
          {
            Update: {
              TableName: tokenTableName,
              Key: { grantId },
              UpdateExpression: 'ADD vehicleIds :vehicle SET updatedAt = :now',
              // Never add a vehicle to a grant that is gone: the profile would point to nothing.
              ConditionExpression: 'attribute_exists(grantId)',
              ExpressionAttributeValues: { ':vehicle': new Set([vehicleId]), ':now': now },
            },
          },
        ];
        if (moveFrom !== undefined && previousExists) items.push(removeFromGrant(moveFrom, vehicleId, now));
        await client.send(new TransactWriteCommand({ TransactItems: items }));
        return moveFrom === undefined ? {} : { previousGrantId: moveFrom };
      });
    },

    unlink(vehicleId, now, unlinkOptions = {}) {
      return retrying(vehicleId, async () => {
        const profile = await getProfile(vehicleId);
        if (!profile) return undefined;
        const grantId = profile.grantId;
        const expected = unlinkOptions.expectedGrantId;
        // The caller revoked the connection of `expected`: a newer link must stay.
        if (expected !== undefined && (grantId ?? null) !== expected) return { relinked: true };
        const exists = grantId !== undefined && (await grantExists(grantId));
        const condition = onGrant(grantId);
        const items: TransactItem[] = [
          {
            Update: {
              TableName: vehicleTableName,
              Key: profileKey(vehicleId),
              UpdateExpression: 'SET #status = :disconnected, disconnectedAt = :now REMOVE grantId',
              ConditionExpression: `attribute_exists(pk) AND ${condition.ConditionExpression}`,
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':disconnected': DISCONNECTED, ':now': now, ...condition.values },
            },
          },
        ];
        if (grantId !== undefined && exists) items.push(removeFromGrant(grantId, vehicleId, now));
        await client.send(new TransactWriteCommand({ TransactItems: items }));
        return grantId === undefined ? {} : { grantId };
      });
    },

    async listUserVehicleIds(appUserId) {
      const ids: string[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: vehicleTableName,
            IndexName: BY_APP_USER_INDEX,
            KeyConditionExpression: 'appUserId = :appUserId',
            ProjectionExpression: 'vehicleId',
            ExpressionAttributeValues: { ':appUserId': appUserId },
            ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
          }),
        );
        for (const item of page.Items ?? []) if (typeof item.vehicleId === 'string') ids.push(item.vehicleId);
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return ids;
    },
  };
}

/**
 * Profile `status = NEEDS_REAUTH` (and back to CONNECTED), each conditional on the profile still pointing at
 * this grant: a vehicle that was re-connected (new grant) or disconnected (no grant) meanwhile is left alone.
 */
export function dynamoVehicleReauth(options: {
  readonly client: DynamoDBDocumentClient;
  readonly vehicleTableName: string;
}): VehicleReauthMarker {
  /** One conditional UpdateItem per profile; a failed condition means "not this grant's / not in that state". */
  async function updateProfiles(
    vehicleIds: readonly string[],
    update: {
      readonly UpdateExpression: string;
      readonly ConditionExpression: string;
      readonly ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<void> {
    await mapWithLimit(vehicleIds, PROFILE_CONCURRENCY, async (vehicleId) => {
      try {
        await options.client.send(
          new UpdateCommand({
            TableName: options.vehicleTableName,
            Key: profileKey(vehicleId),
            ExpressionAttributeNames: { '#status': 'status' },
            ...update,
          }),
        );
      } catch (error) {
        if (!isConditionalFailure(error)) throw error;
      }
    });
  }

  return {
    async markNeedsReauth(vehicleIds, grantId, now) {
      await updateProfiles(vehicleIds, {
        UpdateExpression: 'SET #status = :needsReauth, needsReauthAt = :now',
        ConditionExpression: 'grantId = :grantId',
        ExpressionAttributeValues: { ':needsReauth': NEEDS_REAUTH, ':now': now, ':grantId': grantId },
      });
    },

    async clearNeedsReauth(vehicleIds, grantId) {
      await updateProfiles(vehicleIds, {
        UpdateExpression: 'SET #status = :connected REMOVE needsReauthAt',
        ConditionExpression: 'grantId = :grantId AND #status = :needsReauth',
        ExpressionAttributeValues: {
          ':connected': CONNECTED,
          ':needsReauth': NEEDS_REAUTH,
          ':grantId': grantId,
        },
      });
    },
  };
}
