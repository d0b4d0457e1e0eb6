import type { Logger } from '@aws-lambda-powertools/logger';
import type { VehicleInfo } from '../smartcar/gateway.js';
import type { NewGrant } from '../tokens/grant.js';
import type { TokenStore } from '../tokens/token-store.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';

/**
 * Stores a completed Connect in the crash-safe order of docs/design.md ("Callback storage order"):
 *
 * 1. the grant with its encrypted token pair (no vehicles yet: nothing points to it);
 * 2. per vehicle, one transaction moving the profile and the grants' `vehicleIds` together;
 * 3. deletion of every grant left without vehicles (conditional, so never one that gained a vehicle meanwhile).
 *
 * A crash or error anywhere leaves every profile pointing to a grant that exists and lists it. What can be left
 * behind is a grant without vehicles (if step 3 did not run); the refresh job treats those as garbage.
 * Vehicles are linked one after the other: they all update the same new grant item, so parallel transactions
 * would mostly conflict with each other.
 */

/** The new grant (its id is always a fresh one) and the vehicles to link to it. */
export interface PersistInput extends Omit<NewGrant, 'grantId'> {
  readonly vehicles: readonly VehicleInfo[];
}

export interface PersistResult {
  readonly grantId: string;
  readonly linked: number;
  /** The vehicles now on the new grant, in link order. */
  readonly linkedVehicleIds: readonly string[];
  /** Vehicles whose link transaction failed (they keep their previous link, if any). */
  readonly failed: number;
  /** Emptied grants that could not be deleted (left for the refresh job's clean-up). */
  readonly cleanupFailed: number;
}

/** The grant itself could not be stored (KMS or DynamoDB): nothing was written. */
export class GrantNotStoredError extends Error {
  override readonly name = 'GrantNotStoredError';
  constructor(options: { cause: unknown }) {
    super('the grant could not be stored', options);
  }
}

export async function persistConnection(
  deps: { readonly tokens: TokenStore; readonly links: VehicleLinkStore; readonly logger: Logger },
  input: PersistInput,
): Promise<PersistResult> {
  const { tokens, links, logger } = deps;
  let grantId: string;
  try {
    const grant = await tokens.createGrant({
      appUserId: input.appUserId,
      smartcarUserId: input.smartcarUserId,
      scopes: input.scopes,
      ...(input.permissions && { permissions: input.permissions }),
      tokens: input.tokens,
      now: input.now,
    });
    grantId = grant.grantId;
  } catch (error) {
    throw new GrantNotStoredError({ cause: error });
  }

  const linkedVehicleIds: string[] = [];
  let failed = 0;
  const emptied = new Set<string>();
  for (const vehicle of input.vehicles) {
    try {
      const { previousGrantId } = await links.link({
        vehicleId: vehicle.vehicleId,
        grantId,
        appUserId: input.appUserId,
        smartcarUserId: input.smartcarUserId,
        make: vehicle.make,
        model: vehicle.model,
        year: vehicle.year,
        permissions: input.scopes,
        now: input.now,
      });
      linkedVehicleIds.push(vehicle.vehicleId);
      if (previousGrantId !== undefined) emptied.add(previousGrantId);
    } catch (error) {
      failed += 1;
      logger.error('Could not link vehicle to grant', {
        vehicleId: vehicle.vehicleId,
        grantId,
        error: error as Error,
      });
    }
  }
  // The new grant is a candidate too: if no vehicle could be linked, its tokens must not stay behind.
  const linked = linkedVehicleIds.length;
  if (linked === 0) emptied.add(grantId);

  let cleanupFailed = 0;
  for (const candidate of emptied) {
    try {
      const deleted = await tokens.deleteGrantIfUnused(candidate);
      if (deleted) logger.info('Deleted grant without vehicles', { grantId: candidate });
    } catch (error) {
      cleanupFailed += 1;
      logger.error('Could not delete grant without vehicles', { grantId: candidate, error: error as Error });
    }
  }
  return { grantId, linked, linkedVehicleIds, failed, cleanupFailed };
}
