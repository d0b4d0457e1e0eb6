import { GRANT_PENDING, GRANT_REVOKING, GrantConflictError, type GrantRecord } from '../tokens/grant.js';
import type { ConnectionDeps } from './deps.js';
import { linkPendingVehicles } from './link.js';
import { revokePendingGrant } from './revoke.js';

/**
 * `POST /connect/{connectId}/confirm` (docs/design.md, "Confirmed connect"): the app's backend, which knows who
 * is logged in on the browser that came back from Connect, names that user. Only the user who started the
 * Connect gets the vehicles; anyone else means the Connect URL reached another person (the attack this step
 * exists for), and the grant is revoked at Smartcar and deleted.
 */

export type ConfirmOutcome =
  | {
      readonly kind: 'confirmed';
      readonly grantId: string;
      readonly vehicleIds: readonly string[];
      readonly cleanupFailed: number;
      readonly revokeFailed: number;
    }
  /** Unknown, revoked or expired and deleted. */
  | { readonly kind: 'not_found' }
  /** Another user: revoked (`revoked: false` when Smartcar failed and the expiry job will finish it). */
  | { readonly kind: 'mismatch'; readonly revoked: boolean }
  /** The window passed (or the callback could not complete it): the expiry job revokes it. */
  | { readonly kind: 'expired' };

export async function confirmConnect(
  deps: ConnectionDeps,
  input: { readonly connectId: string; readonly appUserId: string; readonly now: number },
): Promise<ConfirmOutcome> {
  const { tokens, logger } = deps;
  const { connectId, appUserId, now } = input;
  let grant: GrantRecord | undefined = await tokens.getGrant(connectId);
  if (!grant) return { kind: 'not_found' };

  if (grant.appUserId !== appUserId) {
    // A confirmed grant is its owner's: somebody else's claim is refused but does not disconnect them.
    if (grant.status !== GRANT_PENDING && grant.status !== GRANT_REVOKING) {
      return { kind: 'mismatch', revoked: false };
    }
    logger.warn('Connect confirmed by another app user: revoking it', {
      grantId: connectId,
      appUserId: grant.appUserId,
      confirmingUserId: appUserId,
    });
    try {
      const result = await revokePendingGrant(deps, connectId, 'connect_mismatch', now);
      return { kind: 'mismatch', revoked: result === 'revoked' };
    } catch (error) {
      // REVOKING already: no confirm can take it any more; the expiry job finishes the revocation.
      logger.error('Could not revoke a mismatched connect (the expiry job retries)', {
        grantId: connectId,
        error: error as Error,
      });
      return { kind: 'mismatch', revoked: false };
    }
  }

  if (grant.status === GRANT_REVOKING) return { kind: 'expired' };
  if (grant.status === GRANT_PENDING) {
    if (grant.smartcarUserId === undefined || (grant.connectExpiresAt ?? 0) <= now)
      return { kind: 'expired' };
    try {
      grant = await tokens.activatePending(connectId, appUserId, now);
    } catch (error) {
      if (!(error instanceof GrantConflictError)) throw error;
      // A concurrent confirm of the same user activated it (go on linking), or the expiry job took it.
      grant = await tokens.getGrant(connectId);
      if (!grant) return { kind: 'not_found' };
      if (grant.status === GRANT_PENDING || grant.status === GRANT_REVOKING) return { kind: 'expired' };
    }
  }
  // ACTIVE (or NEEDS_REAUTH since): link whatever is still pending; a repeated confirm links nothing new.
  const linked =
    (grant.pendingVehicleIds?.length ?? 0) > 0
      ? await linkPendingVehicles(deps, grant, now)
      : { cleanupFailed: 0, revokeFailed: 0 };
  return {
    kind: 'confirmed',
    grantId: connectId,
    vehicleIds: grant.connectVehicleIds ?? grant.vehicleIds,
    cleanupFailed: linked.cleanupFailed,
    revokeFailed: linked.revokeFailed,
  };
}
