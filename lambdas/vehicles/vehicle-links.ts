import {
  GetCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { isRetryableTransactionCancel } from '../runtime/dynamo-errors.js';
import { PROFILE_SK, vehiclePk } from './vehicle-keys.js';
import { CONNECTED, DISCONNECTED } from './vehicle-status.js';

/**
 * Links between vehicle profiles (vehicle state table) and grants (token table), docs/design.md "Vehicle
 * profile additions", "Callback storage order" and "Disconnect". Every change of a profile's `grantId` and of
 * the grants' `vehicleIds` happens in one transaction, conditional on the `grantId` read just before, so the two
 * tables never disagree about which grant a vehicle uses, even with concurrent callbacks for the same vehicle.
 */

/** GSI of the vehicle table (contracts/tables.ts): partition key `appUserId`, sort key `vehicleId`, projection ALL. */
export { BY_APP_USER_INDEX } from '../../contracts/index.js';

/** Re-reads after a lost race before giving up (each attempt is two reads and one transaction). */
const MAX_ATTEMPTS = 4;

export interface ProfileLink {
  readonly vehicleId: string;
  readonly appUserId?: string;
  readonly grantId?: string;
  readonly smartcarUserId?: string;
  readonly status?: string;
}

export interface LinkInput {
  readonly vehicleId: string;
  readonly grantId: string;
  readonly appUserId: string;
  readonly smartcarUserId: string;
  readonly make: string | null;
  readonly model: string | null;
  readonly year: number | null;
  readonly now: number;
}

export interface VehicleLinkStore {
  /** The live profile's link attributes (strongly consistent), or undefined when there is no profile. */
  getProfile(vehicleId: string): Promise<ProfileLink | undefined>;
  /**
   * Links the vehicle to `grantId` (profile + new grant's `vehicleIds`) and removes it from the grant it used
   * before, in one transaction. Returns that previous grant (the caller deletes it if it is now empty).
   */
  link(input: LinkInput): Promise<{ readonly previousGrantId?: string }>;
  /**
   * Marks the profile DISCONNECTED, removes its `grantId` and takes the vehicle out of that grant's
   * `vehicleIds`, in one transaction. Returns the grant it used (the caller deletes it if now empty), or
   * undefined when there is no profile.
   */
  unlink(vehicleId: string, now: number): Promise<{ readonly grantId?: string } | undefined>;
}

export class LinkContentionError extends Error {
  override readonly name = 'LinkContentionError';
  constructor(readonly vehicleId: string) {
    super(`vehicle ${vehicleId}: the link kept changing concurrently`);
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export function dynamoVehicleLinks(options: {
  readonly client: DynamoDBDocumentClient;
  readonly vehicleTableName: string;
  readonly tokenTableName: string;
}): VehicleLinkStore {
  const { client, vehicleTableName, tokenTableName } = options;
  const profileKey = (vehicleId: string) => ({ pk: vehiclePk(vehicleId), sk: PROFILE_SK });

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
        const condition = onGrant(previous);
        const items: TransactItem[] = [
          {
            Update: {
              TableName: vehicleTableName,
              Key: profileKey(vehicleId),
              UpdateExpression: `SET ${sets.join(', ')} REMOVE disconnectedAt`,
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

    unlink(vehicleId, now) {
      return retrying(vehicleId, async () => {
        const profile = await getProfile(vehicleId);
        if (!profile) return undefined;
        const grantId = profile.grantId;
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
  };
}
