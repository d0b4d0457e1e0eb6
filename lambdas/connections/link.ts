import type { GrantRecord } from '../tokens/grant.js';
import type { ConnectionDeps } from './deps.js';
import { runHook } from './hooks.js';
import { revokeConnection } from './revoke.js';

/**
 * Links a confirmed grant's pending vehicles, one after the other (their transactions all update the same
 * grant item and would conflict in parallel), in the crash-safe order of docs/design.md ("Callback storage
 * order", now run by the confirm):
 *
 * 1. per vehicle, one transaction moving the profile and both grants' `vehicleIds` together;
 * 2. a vehicle that was another app user's: that user's Smartcar connection of it is revoked (unless it is
 *    the same Smartcar user, whose one connection the new link now uses), and their grant is deleted when
 *    it has no vehicles left;
 * 3. REMOVE `pendingVehicleIds`; the `onLinked` hook.
 *
 * Every step can be repeated: a failure throws, and the next confirm of the same user continues.
 */

export interface LinkResult {
  readonly linked: readonly string[];
  /** Emptied grants that could not be deleted (left for the refresh job's clean-up). */
  readonly cleanupFailed: number;
  /** Previous users' connections that could not be revoked (the reconciliation counts them as unknown). */
  readonly revokeFailed: number;
}

export async function linkPendingVehicles(
  deps: ConnectionDeps,
  grant: GrantRecord,
  now: number,
): Promise<LinkResult> {
  const { tokens, links, logger } = deps;
  const smartcarUserId = grant.smartcarUserId;
  if (smartcarUserId === undefined) throw new Error(`grant ${grant.grantId} has no Smartcar user`);
  const linked: string[] = [];
  let cleanupFailed = 0;
  let revokeFailed = 0;
  for (const vehicleId of grant.pendingVehicleIds ?? []) {
    const { previousGrantId } = await links.link({
      vehicleId,
      grantId: grant.grantId,
      appUserId: grant.appUserId,
      smartcarUserId,
      // Filled later from the vehicle's webhooks: the callback no longer reads attributes (rate limits).
      make: null,
      model: null,
      year: null,
      // Which signals count for the vehicle's status: what the owner granted, else what Connect asked for.
      permissions: grant.permissions ?? grant.scopes,
      now,
    });
    linked.push(vehicleId);
    if (previousGrantId === undefined) continue;
    const previous = await tokens.getGrant(previousGrantId);
    if (previous?.smartcarUserId !== undefined && previous.smartcarUserId !== smartcarUserId) {
      try {
        await revokeConnection(deps, {
          vehicleId,
          smartcarUserId: previous.smartcarUserId,
          reason: 'moved_to_other_user',
        });
      } catch (error) {
        revokeFailed += 1;
        logger.error('Could not revoke the previous connection of a moved vehicle', {
          vehicleId,
          previousGrantId,
          error: error as Error,
        });
      }
    }
    try {
      if (await tokens.deleteGrantIfUnused(previousGrantId)) {
        logger.info('Deleted grant without vehicles', { grantId: previousGrantId });
      }
    } catch (error) {
      cleanupFailed += 1;
      logger.error('Could not delete grant without vehicles', {
        grantId: previousGrantId,
        error: error as Error,
      });
    }
  }
  await tokens.finishLinking(grant.grantId, now);
  if (linked.length > 0) {
    await runHook(logger, 'onLinked', () =>
      deps.hooks.onLinked({ appUserId: grant.appUserId, grantId: grant.grantId, vehicleIds: linked }),
    );
  }
  return { linked, cleanupFailed, revokeFailed };
}
