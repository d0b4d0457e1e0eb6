import { deadline } from '../runtime/deadline.js';
import type { GrantRecord } from '../tokens/grant.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';
import type { ConnectionDeps } from './deps.js';
import { runHook, type RevokeReason } from './hooks.js';

/**
 * Revoking Smartcar connections, always one (vehicle, Smartcar user) pair at a time: the Management API
 * delete is never sent without `user_id` (a `vehicle_id` alone removes every user's connection of the vehicle).
 */

/** More than one Smartcar user holds a connection to the vehicle and nothing here says which one is ours. */
export class AmbiguousConnectionError extends Error {
  override readonly name = 'AmbiguousConnectionError';
  constructor(readonly vehicleId: string) {
    super(`vehicle ${vehicleId} has connections of several Smartcar users`);
  }
}

/**
 * True when a live link other than `exceptGrantId` uses the same (vehicle, Smartcar user) connection: Smartcar
 * has one connection per pair, shared by every grant of that user for that vehicle, so revoking it would cut
 * that link too (e.g. the owner connects again and does not confirm, or the car's other app account shares
 * the Smartcar login).
 */
export async function connectionInUse(
  deps: Pick<ConnectionDeps, 'links' | 'tokens'>,
  vehicleId: string,
  smartcarUserId: string,
  exceptGrantId: string,
): Promise<boolean> {
  const profile = await deps.links.getProfile(vehicleId);
  if (!profile?.grantId || profile.grantId === exceptGrantId || profile.status === DISCONNECTED) return false;
  const grant = await deps.tokens.getGrant(profile.grantId);
  return grant !== undefined && grant.smartcarUserId === smartcarUserId;
}

/** Runs the `beforeRevoke` hook, then deletes exactly this user's connection of this vehicle. */
export async function revokeConnection(
  deps: Pick<ConnectionDeps, 'smartcar' | 'hooks' | 'smartcarTimeoutMs' | 'logger'>,
  connection: { readonly vehicleId: string; readonly smartcarUserId: string; readonly reason: RevokeReason },
): Promise<void> {
  const { vehicleId, smartcarUserId, reason } = connection;
  await runHook(deps.logger, 'beforeRevoke', () =>
    deps.hooks.beforeRevoke({ vehicleId, smartcarUserId, reason }),
  );
  const { deleted } = await deps.smartcar.deleteConnections(
    { vehicleId, userId: smartcarUserId },
    deps.smartcarTimeoutMs,
  );
  deps.logger.info('Smartcar connection revoked', { vehicleId, smartcarUserId, reason, deleted });
}

/**
 * The Smartcar user of a vehicle's connection: from its grant (set by the callback from `GET /user`, never by
 * webhook content); else looked up at Smartcar. Undefined when Smartcar has no connection of the vehicle;
 * AmbiguousConnectionError when several users have one.
 */
export async function smartcarUserOf(
  deps: Pick<ConnectionDeps, 'tokens' | 'smartcar' | 'smartcarTimeoutMs'>,
  vehicleId: string,
  grantId: string | undefined,
): Promise<string | undefined> {
  if (grantId !== undefined) {
    const grant = await deps.tokens.getGrant(grantId);
    if (grant?.smartcarUserId !== undefined) return grant.smartcarUserId;
  }
  const users = new Set<string>();
  let cursor: string | undefined;
  // A vehicle has a handful of connections at most; the bound only guards against a paging loop.
  for (let page = 0; page < 10; page += 1) {
    const result = await deps.smartcar.listConnections(
      { vehicleId, ...(cursor !== undefined && { cursor }) },
      deps.smartcarTimeoutMs,
    );
    for (const connection of result.connections) {
      if (connection.vehicleId === vehicleId) users.add(connection.userId);
    }
    cursor = result.cursor;
    if (cursor === undefined) break;
  }
  if (users.size > 1) throw new AmbiguousConnectionError(vehicleId);
  return users.values().next().value;
}

/**
 * The Smartcar user and vehicles of a grant stored before the callback could learn them (the vehicle list
 * failed after the exchange): asked of Smartcar with the grant's own access token.
 */
async function completeFromSmartcar(
  deps: ConnectionDeps,
  grant: GrantRecord,
): Promise<{ smartcarUserId: string; vehicleIds: readonly string[] }> {
  const stored = await deps.tokens.readAccessToken(grant.grantId);
  if (!stored) return { smartcarUserId: grant.smartcarUserId ?? '', vehicleIds: [] };
  const limit = deadline({ perCallMs: deps.smartcarTimeoutMs, endsAt: Number.POSITIVE_INFINITY });
  const [smartcarUserId, vehicleIds] = await Promise.all([
    grant.smartcarUserId ?? deps.smartcar.getUserId(stored.accessToken, limit),
    deps.smartcar.listVehicleIds(stored.accessToken, limit),
  ]);
  return { smartcarUserId, vehicleIds };
}

/**
 * `deferred`: REVOKING, but its vehicles are unknown (the callback failed before it learnt them) and only the
 * expiry job may decrypt the access token that finds them: that job finishes it.
 */
export type PendingRevocation = 'revoked' | 'not_pending' | 'deferred';

/** A grant the callback completed (Smartcar user and vehicles known). */
function isComplete(grant: GrantRecord): grant is GrantRecord & { smartcarUserId: string } {
  return grant.smartcarUserId !== undefined && (grant.connectVehicleIds?.length ?? 0) > 0;
}

/**
 * Revokes a PENDING grant: REVOKING first (so no confirm can activate it meanwhile), then each of its
 * connections that no other link uses, then the grant itself. Throws when Smartcar fails: the grant stays
 * REVOKING and a later call (the expiry job) finishes it. `not_pending`: it was confirmed or is gone.
 * `withAccessToken` (the expiry job only): a grant whose vehicles are unknown is completed with its own access
 * token first.
 */
export async function revokePendingGrant(
  deps: ConnectionDeps,
  grantId: string,
  reason: RevokeReason,
  now: number,
  options: { readonly expiredOnly?: boolean; readonly withAccessToken?: boolean } = {},
): Promise<PendingRevocation> {
  const grant = await deps.tokens.markRevoking(grantId, now, options);
  if (!grant) return 'not_pending';
  let smartcarUserId: string;
  let vehicleIds: readonly string[];
  if (isComplete(grant)) {
    smartcarUserId = grant.smartcarUserId;
    vehicleIds = grant.connectVehicleIds ?? [];
  } else if (options.withAccessToken === true) {
    ({ smartcarUserId, vehicleIds } = await completeFromSmartcar(deps, grant));
  } else {
    deps.logger.info('Pending connect left to the expiry job (its vehicles are unknown)', { grantId });
    return 'deferred';
  }
  for (const vehicleId of vehicleIds) {
    if (smartcarUserId === '' || (await connectionInUse(deps, vehicleId, smartcarUserId, grantId))) continue;
    await revokeConnection(deps, { vehicleId, smartcarUserId, reason });
  }
  await deps.tokens.deleteRevoked(grantId);
  deps.logger.info('Pending connect revoked', { grantId, appUserId: grant.appUserId, reason });
  return 'revoked';
}
