import type { Logger } from '@aws-lambda-powertools/logger';

/**
 * Where other features plug into the life of a connection (e.g. subscribing a vehicle to webhooks once it is
 * linked, unsubscribing it before its connection is revoked). The default does nothing. A hook that fails is
 * logged and does not stop the link or the revocation: the owner's decision wins over our bookkeeping.
 */

/** Why a vehicle's Smartcar connection is being revoked. */
export type RevokeReason =
  | 'disconnect'
  | 'user_removed'
  | 'moved_to_other_user'
  | 'connect_mismatch'
  | 'connect_expired'
  | 'connect_failed'
  | 'reconcile_orphan';

export interface LinkedEvent {
  readonly appUserId: string;
  readonly grantId: string;
  /** Vehicles that became linked to the app user by this confirm (after confirmation where that applies). */
  readonly vehicleIds: readonly string[];
}

export interface RevokeEvent {
  readonly vehicleId: string;
  readonly smartcarUserId: string;
  readonly reason: RevokeReason;
}

export interface ConnectionHooks {
  onLinked(event: LinkedEvent): Promise<void>;
  beforeRevoke(event: RevokeEvent): Promise<void>;
}

export const NO_CONNECTION_HOOKS: ConnectionHooks = {
  onLinked: () => Promise.resolve(),
  beforeRevoke: () => Promise.resolve(),
};

/** Runs a hook; a failure is logged (error level) and swallowed. */
export async function runHook(logger: Logger, name: string, hook: () => Promise<void>): Promise<void> {
  try {
    await hook();
  } catch (error) {
    logger.error('Connection hook failed', { hook: name, error: error as Error });
  }
}
