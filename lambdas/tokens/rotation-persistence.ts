import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { withTimeout } from '../runtime/deadline.js';
import { countFailure } from '../runtime/metrics.js';
import type { TokenSet } from '../smartcar/gateway.js';
import { GrantConflictError, type GrantClaim, type GrantRecord } from './grant.js';
import { encodeRecoveryMessage, type PairSeal, type RecoveryQueue } from './token-recovery.js';
import type { TokenStore } from './token-store.js';
import type { ReauthReason, RotationResult } from './token-rotation.js';
import type { VehicleReauthMarker } from '../vehicles/vehicle-links.js';

/**
 * The last steps of a rotation (token-rotation.ts): storing the new pair (PERSIST) and, when that cannot be
 * done in time, parking it on the recovery queue (token-recovery.ts); or storing that the grant needs
 * re-authorization; or giving the lease back.
 */

/** No Smartcar call is started with less time than this before its deadline. */
export const MIN_CALL_BUDGET_MS = 1_000;
const PERSIST_BACKOFF_BASE_MS = 200;
const PERSIST_BACKOFF_CAP_MS = 3_000;
/**
 * One persist attempt (two KMS encrypts and the UpdateItem, the SDK's own retries included) is given up after
 * this long, on top of the SDK clients' request timeouts: a hung call must not eat the time left for retries.
 * A given-up attempt that lands later is recognised by `rotatedBy`.
 */
export const PERSIST_ATTEMPT_TIMEOUT_MS = 8_000;
/** Persist retries stop this long before the rotation's end, to park the pair (token-recovery.ts) instead. */
export const PARK_RESERVE_MS = 10_000;
/** One SendMessage attempt of the parking. */
const PARK_ATTEMPT_TIMEOUT_MS = 3_000;

export type PersistOutcome =
  | { readonly kind: 'ok'; readonly grant: GrantRecord }
  | { readonly kind: 'lost' }
  | { readonly kind: 'gone' }
  | { readonly kind: 'failed'; readonly error: unknown };

export interface RotationPersistenceDeps {
  readonly tokens: Pick<TokenStore, 'persistRotation' | 'getGrant' | 'releaseClaim' | 'markNeedsReauth'>;
  readonly profiles: Pick<VehicleReauthMarker, 'markNeedsReauth'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The recovery queue; without it nothing is parked. */
  readonly queue: Pick<RecoveryQueue, 'send'> | undefined;
  readonly clock: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** The rotation's backoff (attempt, base, cap) -> ms. */
  readonly backoff: (attempt: number, baseMs: number, capMs: number) => number;
}

export function createRotationPersistence(deps: RotationPersistenceDeps): {
  release(claim: GrantClaim): Promise<void>;
  needsReauth(claim: GrantClaim, reason: ReauthReason, resumed: boolean): Promise<RotationResult>;
  persist(claim: GrantClaim, pair: TokenSet, until: number): Promise<PersistOutcome>;
  park(claim: GrantClaim, seal: PairSeal, pair: TokenSet, until: number): Promise<boolean>;
} {
  const { tokens, logger, metrics, clock, sleep, backoff } = deps;

  async function release(claim: GrantClaim): Promise<void> {
    try {
      await tokens.releaseClaim(claim);
    } catch (error) {
      // The lease then simply expires (REFRESH_LEASE_SECONDS).
      logger.warn('Could not release the rotation lease', {
        grantId: claim.grant.grantId,
        error: error as Error,
      });
    }
  }

  async function needsReauth(
    claim: GrantClaim,
    reason: ReauthReason,
    resumed: boolean,
  ): Promise<RotationResult> {
    const { grant } = claim;
    const at = clock();
    try {
      // Vehicles first: if this fails, the grant is still ACTIVE and in the index, so a later run redoes both.
      await deps.profiles.markNeedsReauth(grant.vehicleIds, grant.grantId, at);
      await tokens.markNeedsReauth(grant, at, { owner: claim.owner, reason });
    } catch (error) {
      if (error instanceof GrantConflictError) {
        logger.warn('Lease lost before the grant could be marked NEEDS_REAUTH', { grantId: grant.grantId });
        return { outcome: 'failed', reason: 'lease_lost' };
      }
      logger.error('Could not mark the grant NEEDS_REAUTH', {
        grantId: grant.grantId,
        error: error as Error,
      });
      await release(claim);
      return { outcome: 'failed', reason: 'reauth_not_stored' };
    }
    countFailure(metrics, 'GrantNeedsReauth', reason);
    // The one line operations act on (prompt the owner to reconnect). Identifiers only, never tokens.
    logger.warn('Grant needs re-authorization', {
      grantId: grant.grantId,
      appUserId: grant.appUserId,
      vehicleIds: grant.vehicleIds,
      reason,
      ...(resumed && { afterInterruptedRotation: true }),
    });
    return { outcome: 'needs_reauth', reason };
  }

  /** Retries until `until` (with backoff): the pair exists nowhere else. */
  async function persist(claim: GrantClaim, pair: TokenSet, until: number): Promise<PersistOutcome> {
    const { grantId } = claim.grant;
    let lastError: unknown;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const budget = Math.min(PERSIST_ATTEMPT_TIMEOUT_MS, until - clock());
        const grant = await withTimeout(tokens.persistRotation(claim, pair, clock()), budget, 'persist');
        return { kind: 'ok', grant };
      } catch (error) {
        if (error instanceof GrantConflictError) {
          // Either someone took the grant over after our lease ran out, or an earlier attempt of ours (or the
          // SDK's own retry of this one) landed and its acknowledgement was lost: `rotatedBy` tells which.
          try {
            const current = await tokens.getGrant(grantId);
            // Its last vehicle was disconnected meanwhile: nothing left to store the pair for.
            if (current === undefined) return { kind: 'gone' };
            if (current.version === claim.grant.version + 1 && current.rotatedBy === claim.owner) {
              return { kind: 'ok', grant: current };
            }
          } catch (readError) {
            logger.warn('Could not re-read the grant after a lost persist race', {
              grantId,
              error: readError as Error,
            });
          }
          return { kind: 'lost' };
        }
        lastError = error;
        logger.warn('Could not store the rotated pair, retrying', {
          grantId,
          attempt,
          error: error as Error,
        });
        const delay = backoff(attempt, PERSIST_BACKOFF_BASE_MS, PERSIST_BACKOFF_CAP_MS);
        if (clock() + delay + MIN_CALL_BUDGET_MS > until) break;
        await sleep(delay);
      }
    }
    return { kind: 'failed', error: lastError };
  }

  /** Seals the pair and sends it to the recovery queue, retrying until `until`; true once it is there. */
  async function park(claim: GrantClaim, seal: PairSeal, pair: TokenSet, until: number): Promise<boolean> {
    const { queue } = deps;
    if (queue === undefined) return false;
    const body = encodeRecoveryMessage(
      seal.seal(
        {
          grantId: claim.grant.grantId,
          appUserId: claim.grant.appUserId,
          claimedVersion: claim.grant.version,
          owner: claim.owner,
          parkedAt: clock(),
          accessExpiresAt: pair.accessExpiresAt,
          refreshExpiresAt: pair.refreshExpiresAt,
        },
        pair,
      ),
    );
    for (let attempt = 1; ; attempt += 1) {
      try {
        const budget = Math.min(PARK_ATTEMPT_TIMEOUT_MS, until - clock());
        await withTimeout(queue.send(body), budget, 'park');
        return true;
      } catch (error) {
        logger.warn('Could not park the rotated pair, retrying', {
          grantId: claim.grant.grantId,
          attempt,
          error: error as Error,
        });
        const delay = backoff(attempt, PERSIST_BACKOFF_BASE_MS, PERSIST_BACKOFF_CAP_MS);
        if (clock() + delay + MIN_CALL_BUDGET_MS > until) return false;
        await sleep(delay);
      }
    }
  }

  return { persist, park, release, needsReauth };
}
