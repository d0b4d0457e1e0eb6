import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapWithLimit } from '../runtime/concurrency.js';
import { queryIndexPage, type IndexPage } from '../runtime/dynamo-query.js';
import { BY_APP_USER_INDEX } from '../vehicles/vehicle-keys.js';
import { PROFILE_SK, STATE_SK, isValidVehicleId, vehiclePk } from '../vehicles/vehicle-keys.js';
import { asObject } from '../runtime/json.js';
import {
  DISCONNECTED,
  NEEDS_REAUTH,
  vehicleStatus,
  type ActionRequired,
  type StatusOptions,
  type StatusRelevantError,
} from '../vehicles/vehicle-status.js';
import { statusErrorOf } from './read.js';

/**
 * `GET /vehicles?userId=`: the vehicles linked to an app user, from the sparse GSI `byAppUser` (profiles only),
 * one page at a time. Status is derived as for the single read; the active errors it needs are looked up per
 * vehicle, bounded in parallelism and size, and only where the profile does not decide the status already.
 */

export interface VehicleSummary {
  readonly vehicleId: string;
  readonly make: string | null;
  readonly model: string | null;
  readonly year: number | null;
  readonly status: string;
  readonly actionRequired: ActionRequired | null;
}

/** One page of a user's profiles. */
export type ProfilePage = IndexPage;

export interface VehicleListSource {
  /** One page of the user's profiles, in vehicle id order. */
  profiles(appUserId: string, limit: number, startKey?: Record<string, unknown>): Promise<ProfilePage>;
  /** The vehicle's errors (type, state, resolution) from its state item, at most MAX_ERROR_ITEMS. */
  errors(vehicleId: string): Promise<Record<string, unknown>[]>;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;
/** Parallel error lookups per request. */
export const ERROR_LOOKUP_CONCURRENCY = 8;
/** One entry per (type, code) exists per vehicle; more than this is not a real vehicle's error set. */
export const MAX_ERROR_ITEMS = 100;

export function dynamoVehicleList(client: DynamoDBDocumentClient, tableName: string): VehicleListSource {
  return {
    profiles(appUserId, limit, startKey) {
      return queryIndexPage(client, {
        tableName,
        indexName: BY_APP_USER_INDEX,
        key: 'appUserId',
        value: appUserId,
        limit,
        startKey,
      });
    },
    async errors(vehicleId) {
      // Only the plain `errors` map of the state item: the compressed signals are not needed here.
      const { Item } = await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: vehiclePk(vehicleId), sk: STATE_SK },
          ProjectionExpression: '#errors',
          ExpressionAttributeNames: { '#errors': 'errors' },
        }),
      );
      const errors = asObject(Item?.errors) ?? {};
      return Object.values(errors)
        .flatMap((error) => (asObject(error) === undefined ? [] : [error as Record<string, unknown>]))
        .slice(0, MAX_ERROR_ITEMS);
    },
  };
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function errorsOf(items: readonly Record<string, unknown>[]): StatusRelevantError[] {
  return items
    .filter((item) => typeof item.type === 'string' && item.state === 'ERROR')
    .map((item) =>
      statusErrorOf({
        type: item.type as string,
        code: str(item.code),
        resolution: item.resolution,
        signals: Array.isArray(item.signals)
          ? item.signals.filter((code): code is string => typeof code === 'string')
          : [],
        ...(typeof item.at === 'number' && { at: item.at }),
      }),
    );
}

/** A profile whose own status settles the derived one needs no error lookup. */
function needsErrorLookup(profile: Record<string, unknown>): boolean {
  return profile.status !== DISCONNECTED && profile.status !== NEEDS_REAUTH;
}

export function toSummary(
  profile: Record<string, unknown>,
  errors: readonly Record<string, unknown>[],
  options: StatusOptions = {},
): VehicleSummary {
  const permissions = Array.isArray(profile.permissions)
    ? profile.permissions.filter((permission): permission is string => typeof permission === 'string')
    : undefined;
  const derived = vehicleStatus(
    {
      ...(typeof profile.status === 'string' && { status: profile.status }),
      ...(typeof profile.connectedAt === 'number' && { connectedAt: profile.connectedAt }),
      ...(permissions !== undefined && { permissions }),
    },
    errorsOf(errors),
    options,
  );
  return {
    vehicleId: str(profile.vehicleId) ?? '',
    make: str(profile.make),
    model: str(profile.model),
    year: typeof profile.year === 'number' ? profile.year : null,
    status: derived.status,
    actionRequired: derived.actionRequired,
  };
}

/** The pagination token: the GSI's LastEvaluatedKey, base64url JSON. Opaque to clients. */
export function encodeNextToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * Decodes a token and accepts it only as a key of this user's partition of the GSI (a profile key), so a
 * crafted token cannot start a query anywhere else.
 */
export function decodeNextToken(token: string, appUserId: string): Record<string, unknown> | undefined {
  if (token.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return undefined;
  const { pk, sk, vehicleId, appUserId: user, ...rest } = key as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || user !== appUserId || sk !== PROFILE_SK) return undefined;
  if (typeof vehicleId !== 'string' || !isValidVehicleId(vehicleId) || pk !== vehiclePk(vehicleId)) {
    return undefined;
  }
  return { pk, sk, vehicleId, appUserId: user };
}

export interface VehicleListPage {
  readonly vehicles: VehicleSummary[];
  readonly nextToken: string | null;
}

/** One page of summaries; error lookups run ERROR_LOOKUP_CONCURRENCY at a time and fail the page if one fails. */
export async function listVehicles(
  source: VehicleListSource,
  appUserId: string,
  limit: number,
  startKey?: Record<string, unknown>,
  options: StatusOptions = {},
): Promise<VehicleListPage> {
  const page = await source.profiles(appUserId, limit, startKey);
  const profiles = page.items.filter(
    (item) => typeof item.vehicleId === 'string' && isValidVehicleId(item.vehicleId),
  );
  const vehicles = await mapWithLimit(profiles, ERROR_LOOKUP_CONCURRENCY, async (profile) =>
    toSummary(
      profile,
      needsErrorLookup(profile) ? await source.errors(profile.vehicleId as string) : [],
      options,
    ),
  );
  return { vehicles, nextToken: page.lastKey ? encodeNextToken(page.lastKey) : null };
}
