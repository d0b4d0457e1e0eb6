import {
  GRANT_ACTIVE,
  GRANT_NEEDS_REAUTH,
  GRANT_PENDING,
  GRANT_REVOKING,
  MalformedGrantError,
  type GrantRecord,
} from './grant.js';

/** How a grant is stored in a token table item (docs/design.md, "Token table"), read back. */

/** Every attribute `grantFromItem` reads (a Scan projection without the ciphertexts). */
export const GRANT_METADATA = [
  'grantId',
  'appUserId',
  'smartcarUserId',
  'keyId',
  'accessExpiresAt',
  'refreshExpiresAt',
  'version',
  'vehicleIds',
  'status',
  'scopes',
  'createdAt',
  'updatedAt',
  'pendingVehicleIds',
  'connectVehicleIds',
  'connectExpiresAt',
] as const;

export const GRANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function requireString(item: Record<string, unknown>, field: string, grantId: string): string {
  const value = item[field];
  if (typeof value !== 'string' || value === '') throw new MalformedGrantError(grantId, field);
  return value;
}

function requireNumber(item: Record<string, unknown>, field: string, grantId: string): number {
  const value = item[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedGrantError(grantId, field);
  return value;
}

function stringList(value: unknown): string[] {
  if (value instanceof Set || Array.isArray(value)) {
    return [...(value as Iterable<unknown>)].filter((v): v is string => typeof v === 'string').sort();
  }
  return [];
}

/** DynamoDB item → GrantRecord; the ciphertexts stay in the item. */
export function grantFromItem(item: Record<string, unknown>): GrantRecord {
  const grantId = typeof item.grantId === 'string' ? item.grantId : '(unknown)';
  const status =
    item.status === GRANT_NEEDS_REAUTH || item.status === GRANT_PENDING || item.status === GRANT_REVOKING
      ? item.status
      : GRANT_ACTIVE;
  const smartcarUserId = item.smartcarUserId;
  // Only a grant stored right after the exchange may lack it (it is completed just after, or revoked).
  if (status === GRANT_ACTIVE || status === GRANT_NEEDS_REAUTH)
    requireString(item, 'smartcarUserId', grantId);
  return {
    grantId: requireString(item, 'grantId', grantId),
    appUserId: requireString(item, 'appUserId', grantId),
    ...(typeof smartcarUserId === 'string' && smartcarUserId !== '' && { smartcarUserId }),
    keyId: requireString(item, 'keyId', grantId),
    accessExpiresAt: requireNumber(item, 'accessExpiresAt', grantId),
    refreshExpiresAt: requireNumber(item, 'refreshExpiresAt', grantId),
    version: requireNumber(item, 'version', grantId),
    vehicleIds: stringList(item.vehicleIds),
    status,
    scopes: Array.isArray(item.scopes) ? item.scopes.filter((s): s is string => typeof s === 'string') : [],
    ...(Array.isArray(item.permissions) && {
      permissions: item.permissions.filter((p): p is string => typeof p === 'string'),
    }),
    createdAt: requireNumber(item, 'createdAt', grantId),
    updatedAt: requireNumber(item, 'updatedAt', grantId),
    pendingVehicleIds: stringList(item.pendingVehicleIds),
    connectVehicleIds: stringList(item.connectVehicleIds),
    ...(typeof item.connectExpiresAt === 'number' && { connectExpiresAt: item.connectExpiresAt }),
    ...(typeof item.leaseOwner === 'string' && { leaseOwner: item.leaseOwner }),
    ...(typeof item.leaseUntil === 'number' && { leaseUntil: item.leaseUntil }),
    ...(typeof item.rotatedBy === 'string' && { rotatedBy: item.rotatedBy }),
  };
}
