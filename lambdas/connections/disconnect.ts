import { GRANT_PENDING, GRANT_REVOKING } from '../tokens/grant.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';
import type { ConnectionDeps } from './deps.js';
import type { RevokeReason } from './hooks.js';
import { revokeConnection, revokePendingGrant, smartcarUserOf } from './revoke.js';

/**
 * Disconnecting one vehicle (docs/design.md, "Disconnect"): exactly this user's Smartcar connection is
 * revoked — the Smartcar user from the vehicle's grant, else looked up at Smartcar (AmbiguousConnectionError
 * when several users are connected) — and then the profile is unlinked *only if it is still on that grant*:
 * a re-link that landed meanwhile has its own, live connection and stays.
 */

export type DisconnectOutcome =
  | { readonly kind: 'not_found' }
  | { readonly kind: 'already_disconnected' }
  /** The profile names another app user (user removal only: it was moved to them). */
  | { readonly kind: 'not_owned' }
  | { readonly kind: 'relinked' }
  | { readonly kind: 'disconnected'; readonly grantId?: string; readonly cleanupFailed: boolean };

export async function disconnectVehicle(
  deps: ConnectionDeps,
  vehicleId: string,
  now: number,
  options: { readonly appUserId?: string; readonly reason?: RevokeReason } = {},
): Promise<DisconnectOutcome> {
  const { links, tokens, logger } = deps;
  const profile = await links.getProfile(vehicleId);
  if (!profile) return { kind: 'not_found' };
  if (options.appUserId !== undefined && profile.appUserId !== options.appUserId)
    return { kind: 'not_owned' };
  if (profile.status === DISCONNECTED) return { kind: 'already_disconnected' };

  const smartcarUserId = await smartcarUserOf(deps, vehicleId, profile.grantId);
  if (smartcarUserId !== undefined) {
    await revokeConnection(deps, { vehicleId, smartcarUserId, reason: options.reason ?? 'disconnect' });
  } else {
    logger.info('Smartcar has no connection of the vehicle', { vehicleId });
  }

  const unlinked = await links.unlink(vehicleId, now, { expectedGrantId: profile.grantId ?? null });
  if (unlinked === undefined) return { kind: 'not_found' };
  if (unlinked.relinked === true) return { kind: 'relinked' };
  let cleanupFailed = false;
  if (unlinked.grantId !== undefined) {
    try {
      if (await tokens.deleteGrantIfUnused(unlinked.grantId)) {
        logger.info('Deleted grant without vehicles', { grantId: unlinked.grantId });
      }
    } catch (error) {
      // The vehicle is disconnected; an empty grant left behind is garbage for the refresh job's clean-up.
      cleanupFailed = true;
      logger.error('Could not delete grant without vehicles', {
        grantId: unlinked.grantId,
        error: error as Error,
      });
    }
  }
  return {
    kind: 'disconnected',
    ...(unlinked.grantId !== undefined && { grantId: unlinked.grantId }),
    cleanupFailed,
  };
}

export interface UserRemoval {
  readonly vehiclesDisconnected: number;
  readonly pendingConnectsRemoved: number;
}

/**
 * `DELETE /users/{userId}`: every connection of the app user is revoked (one vehicle at a time, as a
 * disconnect), their pending connects are revoked and deleted, and with their last vehicle each grant (and its
 * tokens) goes. What is left: their vehicles' profiles, DISCONNECTED. Any failure throws after what was done
 * stays done; a retry skips it (DISCONNECTED vehicles and deleted grants are not touched again).
 */
export async function removeUser(deps: ConnectionDeps, appUserId: string, now: number): Promise<UserRemoval> {
  let vehiclesDisconnected = 0;
  for (const vehicleId of await deps.links.listUserVehicleIds(appUserId)) {
    let outcome = await disconnectVehicle(deps, vehicleId, now, { appUserId, reason: 'user_removed' });
    // A re-link of the same user landed meanwhile: that one goes too.
    for (let i = 0; i < 3 && outcome.kind === 'relinked'; i += 1) {
      outcome = await disconnectVehicle(deps, vehicleId, now, { appUserId, reason: 'user_removed' });
    }
    if (outcome.kind === 'relinked') throw new Error(`vehicle ${vehicleId} kept being linked again`);
    if (outcome.kind === 'disconnected') vehiclesDisconnected += 1;
  }
  let pendingConnectsRemoved = 0;
  for (const grantId of await deps.tokens.listPending()) {
    const grant = await deps.tokens.getGrant(grantId);
    if (grant?.appUserId !== appUserId) continue;
    if (grant.status !== GRANT_PENDING && grant.status !== GRANT_REVOKING) continue;
    if ((await revokePendingGrant(deps, grantId, 'user_removed', now)) === 'revoked')
      pendingConnectsRemoved += 1;
  }
  return { vehiclesDisconnected, pendingConnectsRemoved };
}
