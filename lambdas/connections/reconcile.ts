import { GRANT_PENDING, GRANT_REVOKING } from '../tokens/grant.js';
import type { SmartcarConnection } from '../smartcar/gateway.js';
import type { ConnectionDeps } from './deps.js';
import { revokeConnection } from './revoke.js';

/**
 * The daily reconciliation (docs/design.md, "Reconciliation"): what Smartcar says the application is
 * connected to, against what the grants say.
 *
 * - A linked vehicle whose (Smartcar user, vehicle) connection Smartcar no longer has (the owner removed the
 *   app in Smartcar's account page, or a revocation's local step was lost) is marked DISCONNECTED, conditional
 *   on it still being on that grant.
 * - A connection Smartcar has and no grant knows (a Connect whose storage and revocation both failed, a
 *   previous owner's connection that could not be revoked) is counted and logged with its ids only; with
 *   `revokeOrphans` those older than a day are revoked. The day keeps clear of a Connect still in progress
 *   (Smartcar creates the connection before the callback stores the grant).
 *
 * The grants are read before Smartcar's list, so a Connect stored after the read has its connection in the
 * list and is simply "unknown" for this run, never a reason to disconnect anything.
 */

export interface ReconcileSummary {
  readonly smartcarConnections: number;
  readonly vehiclesDisconnected: number;
  readonly unknownConnections: number;
  readonly orphansRevoked: number;
  readonly failed: number;
}

export const ORPHAN_MIN_AGE_MS = 24 * 60 * 60 * 1000;
/** A paging bound far above any application's connection count: a cursor loop cannot keep the job going. */
const MAX_PAGES = 10_000;
/** Unknown connections named in the log line (the metric counts all of them). */
const MAX_LOGGED = 100;

const pair = (smartcarUserId: string, vehicleId: string) => `${smartcarUserId}\u0000${vehicleId}`;

export async function reconcileConnections(
  deps: ConnectionDeps,
  options: { readonly now: number; readonly revokeOrphans: boolean },
): Promise<ReconcileSummary> {
  const { tokens, links, logger } = deps;
  const { now } = options;

  const linked = new Map<string, { grantId: string; vehicleId: string }>();
  const known = new Set<string>();
  for (const grant of await tokens.listAllGrants()) {
    if (grant.smartcarUserId === undefined) continue;
    for (const vehicleId of grant.vehicleIds) {
      linked.set(pair(grant.smartcarUserId, vehicleId), { grantId: grant.grantId, vehicleId });
      known.add(pair(grant.smartcarUserId, vehicleId));
    }
    if (grant.status === GRANT_PENDING || grant.status === GRANT_REVOKING) {
      for (const vehicleId of grant.connectVehicleIds ?? []) known.add(pair(grant.smartcarUserId, vehicleId));
    }
  }

  const seen = new Set<string>();
  const unknown: SmartcarConnection[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const result = await deps.smartcar.listConnections(
      { ...(cursor !== undefined && { cursor }) },
      deps.smartcarTimeoutMs,
    );
    for (const connection of result.connections) {
      const key = pair(connection.userId, connection.vehicleId);
      if (seen.has(key)) continue;
      seen.add(key);
      if (!known.has(key)) unknown.push(connection);
    }
    cursor = result.cursor;
    if (cursor === undefined) break;
  }

  let vehiclesDisconnected = 0;
  let failed = 0;
  for (const [key, { grantId, vehicleId }] of linked) {
    if (seen.has(key)) continue;
    try {
      const unlinked = await links.unlink(vehicleId, now, { expectedGrantId: grantId });
      if (unlinked === undefined || unlinked.relinked === true) continue;
      vehiclesDisconnected += 1;
      logger.info('Vehicle disconnected: Smartcar no longer has its connection', { vehicleId, grantId });
      await tokens.deleteGrantIfUnused(grantId);
    } catch (error) {
      failed += 1;
      logger.error('Could not mark a vehicle disconnected', { vehicleId, grantId, error: error as Error });
    }
  }

  let orphansRevoked = 0;
  if (unknown.length > 0) {
    logger.warn('Smartcar connections no grant knows', {
      count: unknown.length,
      connections: unknown
        .slice(0, MAX_LOGGED)
        .map(({ userId, vehicleId }) => ({ smartcarUserId: userId, vehicleId })),
    });
  }
  if (options.revokeOrphans) {
    for (const connection of unknown) {
      if (!(now - connection.connectedAt >= ORPHAN_MIN_AGE_MS)) continue;
      try {
        await revokeConnection(deps, {
          vehicleId: connection.vehicleId,
          smartcarUserId: connection.userId,
          reason: 'reconcile_orphan',
        });
        orphansRevoked += 1;
      } catch (error) {
        failed += 1;
        logger.error('Could not revoke an unknown connection', {
          vehicleId: connection.vehicleId,
          smartcarUserId: connection.userId,
          error: error as Error,
        });
      }
    }
  }
  return {
    smartcarConnections: seen.size,
    vehiclesDisconnected,
    unknownConnections: unknown.length,
    orphansRevoked,
    failed,
  };
}
