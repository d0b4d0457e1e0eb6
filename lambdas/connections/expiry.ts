import { GRANT_PENDING, GRANT_REVOKING } from '../tokens/grant.js';
import type { ConnectionDeps } from './deps.js';
import { revokePendingGrant } from './revoke.js';

/**
 * The connect expiry job (docs/design.md, "Confirmed connect"): every PENDING grant whose window has passed —
 * not confirmed within `connectConfirmMinutes`, or cut short by a callback that failed after the exchange —
 * and every REVOKING one (a revocation that failed earlier) is revoked at Smartcar and deleted. The pending
 * set is small (the Connects of the last few minutes), so it is listed whole.
 */

export interface ExpirySummary {
  /** Pending grants still inside their window. */
  readonly waiting: number;
  readonly revoked: number;
  readonly failed: number;
}

export async function expirePendingConnects(deps: ConnectionDeps, now: number): Promise<ExpirySummary> {
  let waiting = 0;
  let revoked = 0;
  let failed = 0;
  for (const grantId of await deps.tokens.listPending()) {
    try {
      const grant = await deps.tokens.getGrant(grantId);
      if (!grant) continue;
      if (grant.status === GRANT_PENDING && (grant.connectExpiresAt ?? 0) > now) {
        waiting += 1;
        continue;
      }
      if (grant.status !== GRANT_PENDING && grant.status !== GRANT_REVOKING) continue;
      const result = await revokePendingGrant(deps, grantId, 'connect_expired', now, {
        expiredOnly: true,
        withAccessToken: true,
      });
      if (result === 'revoked') revoked += 1;
    } catch (error) {
      // Stays PENDING/REVOKING (and listed): the next run tries again.
      failed += 1;
      deps.logger.error('Could not revoke an expired connect', { grantId, error: error as Error });
    }
  }
  return { waiting, revoked, failed };
}
