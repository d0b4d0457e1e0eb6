import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { deadline } from '../runtime/deadline.js';
import type { SmartcarCallDeps } from '../runtime/deps.js';
import type { SmartcarGateway, TokenSet } from '../smartcar/gateway.js';
import {
  classifyTokenExchangeError,
  describeSmartcarError,
  type TokenExchangeError,
} from '../smartcar/errors.js';
import type { VehicleReauthMarker } from '../vehicles/vehicle-links.js';
import { TokenDecryptionError, type GrantClaim, type GrantRecord } from './grant.js';
import { createRateGate, type RateGate } from './rate-gate.js';
import { createRotationPersistence, MIN_CALL_BUDGET_MS, PARK_RESERVE_MS } from './rotation-persistence.js';
import { type PairSeal, type RecoveryQueue, type RecoverySealer } from './token-recovery.js';
import type { TokenStore } from './token-store.js';

/*
 * Atomic rotation of a grant's token pair (docs/design.md, "Atomic rotation"), shared by the scheduled refresh
 * job and getAccessToken so that both follow exactly one protocol:
 *
 *   1. CLAIM    UpdateItem SET leaseOwner, leaseUntil  IF version = :v AND ACTIVE AND no live lease.
 *               Losing the claim means someone else is rotating (or already did): no Smartcar call.
 *   2. EXCHANGE decrypt the stored refresh token, AuthClient.exchangeRefreshToken. From Smartcar's answer on,
 *               the new pair exists only in this process's memory.
 *   3. PERSIST  UpdateItem new ciphertexts, version + 1, REMOVE lease  IF version = :v AND leaseOwner = me.
 *
 * THE CRASH WINDOW is between Smartcar rotating (2) and our write landing (3): a Lambda timeout, an OOM, a
 * DynamoDB or KMS outage, or Smartcar's answer lost on the network after it rotated. The new pair is then gone,
 * and the stored refresh token is the one Smartcar just rotated. What keeps that from costing the owner a
 * re-connect is that Smartcar (like the fake) keeps accepting a rotated refresh token for about a minute, and
 * every party retries with the STORED token:
 *   - Lost answer / timeout / 5xx during the exchange: retried right here with the same token, a few seconds
 *     later, which is inside the reuse window whether or not Smartcar had rotated.
 *   - Persist failures: retried here with backoff until the invocation's end (not only the lease's: the write
 *     is conditional on leaseOwner, so it still succeeds late as long as nobody took the grant over), each
 *     attempt time-limited. A write whose acknowledgement was lost is recognised by `rotatedBy = owner` on the
 *     conflict that its retry hits. Shortly before the end the pair is PARKED instead: sealed under a data key
 *     fetched before the exchange (so no KMS call is needed) and sent to the recovery queue, which the next
 *     run applies before anything else (token-recovery.ts; metric TokenRotationParked, alarmed).
 *   - The process dies: the claim leaves `leaseUntil` behind (REFRESH_LEASE_SECONDS, short on purpose). After it,
 *     the next claimant (a parallel run, the next run, or getAccessToken) finds the expired lease, claims,
 *     exchanges the stored token again and, within the reuse window, stores a valid newest pair ("resumed",
 *     metric TokenRotationRecovered). Later than that Smartcar answers invalid_grant and the grant needs
 *     re-authorization; the log line then says `afterInterruptedRotation` so it can be told from a revocation.
 *   - On every failure that leaves the stored token valid or possibly in its reuse window (429, 5xx, timeouts,
 *     our own errors) the lease is released at once, so that a getAccessToken call can retry within the window
 *     instead of waiting for the lease to expire.
 *   - The job never starts a rotation with less than ~15 s of invocation left, and the exchange must end
 *     PERSIST_RESERVE_MS before the lease does, so the persist normally runs while the lease is still ours.
 * A pair that could be neither stored nor parked is logged at error level with metric TokenRotationNotPersisted:
 * the alarm for the cases that can still end in a re-connect (with a process death, which logs nothing).
 */

/** Transient exchange failures (5xx, timeouts, network) tried this many times in one rotation. */
export const EXCHANGE_ATTEMPTS = 3;
const EXCHANGE_BACKOFF_BASE_MS = 500;
const EXCHANGE_BACKOFF_CAP_MS = 4_000;
/** After a 429 the same rotation tries once more (after Retry-After), then gives the grant back. */
const RATE_LIMIT_RETRIES = 1;
/** Wait on 429 without a Retry-After (first retry); doubled per further 429. */
const RATE_LIMIT_BACKOFF_MS = 2_000;
/** Up to this much is added to Retry-After, so that parallel callers do not come back in lockstep. */
export const RETRY_AFTER_JITTER_MS = 1_000;
/** The exchange must be done this long before the lease (or invocation) ends, to persist under the lease. */
export const PERSIST_RESERVE_MS = 5_000;
export { PARK_RESERVE_MS, PERSIST_ATTEMPT_TIMEOUT_MS } from './rotation-persistence.js';
/** A grant without vehicles older than this is garbage of an interrupted callback (design: "a few minutes"). */
export const ORPHAN_MIN_AGE_MS = 15 * 60 * 1000;

export type ReauthReason = 'invalid_grant' | 'refresh_token_expired';
export type RotationFailure =
  | 'claim_failed'
  | 'decrypt_failed'
  | 'smartcar_unavailable'
  | 'smartcar_rejected'
  | 'client_rejected'
  | 'no_time'
  | 'lease_lost'
  | 'not_persisted'
  | 'parked'
  | 'recovery_unavailable'
  | 'reauth_not_stored'
  | 'unexpected';

export type RotationResult =
  | {
      readonly outcome: 'rotated';
      readonly grant: GrantRecord;
      readonly tokens: TokenSet;
      /** True when this rotation took over the expired lease of one that did not finish. */
      readonly resumed: boolean;
    }
  | {
      readonly outcome: 'skipped';
      readonly reason: 'claimed_elsewhere' | 'orphan_deleted' | 'orphan_young' | 'grant_deleted';
    }
  | { readonly outcome: 'needs_reauth'; readonly reason: ReauthReason }
  | { readonly outcome: 'throttled'; readonly retryAfterMs?: number }
  | { readonly outcome: 'failed'; readonly reason: RotationFailure };

export interface RotationRequest {
  readonly grantId: string;
  /** The version the caller saw (index entry or read); the claim fails if the grant has moved on. */
  readonly version: number;
  /** Decision time (the job: the scheduled event's time): a refresh token expiring by then is expired. */
  readonly now: number;
  /** Wall-clock epoch ms by which this rotation must be done, persist retries included. */
  readonly endsAt: number;
  /** Who claims, e.g. `job:<request id>`; a random suffix makes every claim's owner unique. */
  readonly claimant: string;
  /** Default: the rotation's own gate (one per createTokenRotation). */
  readonly gate?: RateGate;
}

export interface TokenRotationDeps extends SmartcarCallDeps {
  readonly tokens: Pick<
    TokenStore,
    'claimGrant' | 'persistRotation' | 'releaseClaim' | 'markNeedsReauth' | 'deleteGrantIfUnused' | 'getGrant'
  >;
  readonly profiles: Pick<VehicleReauthMarker, 'markNeedsReauth'>;
  readonly smartcar: Pick<SmartcarGateway, 'exchangeRefreshToken'>;
  /** REFRESH_LEASE_SECONDS × 1000. */
  readonly leaseMs: number;
  /** Wall clock for leases: compared with other processes' clocks, so never the (replayable) event time. */
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** [0, 1) for jitter; injectable for tests. */
  readonly random?: () => number;
  /**
   * The durable fallback (token-recovery.ts): a pair that cannot be stored before the rotation's end is sealed
   * and sent to the recovery queue. Without it such a pair is only logged (TokenRotationNotPersisted).
   */
  readonly recovery?: {
    readonly sealer: Pick<RecoverySealer, 'prepare'>;
    readonly queue: Pick<RecoveryQueue, 'send'>;
  };
}

export interface TokenRotation {
  rotate(request: RotationRequest): Promise<RotationResult>;
}

type ExchangeOutcome =
  | { readonly kind: 'ok'; readonly tokens: TokenSet }
  | { readonly kind: 'failed'; readonly error: TokenExchangeError | undefined; readonly throttled: boolean };

export const realSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export function createTokenRotation(deps: TokenRotationDeps): TokenRotation {
  const { tokens, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const random = deps.random ?? Math.random;
  const ownGate = createRateGate();

  /** Exponential backoff with "equal jitter": half fixed, half random, so waits never collapse to zero. */
  function backoff(attempt: number, baseMs: number, capMs: number): number {
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
    return ceiling / 2 + random() * (ceiling / 2);
  }

  const { persist, park, release, needsReauth } = createRotationPersistence({
    tokens,
    profiles: deps.profiles,
    logger,
    metrics,
    queue: deps.recovery?.queue,
    clock,
    sleep,
    backoff,
  });

  /** Waits out a 429 block (+ jitter) if that still leaves time for a call before `endsAt`; false otherwise. */
  async function passGate(gate: RateGate, endsAt: number): Promise<boolean> {
    const wait = gate.blockedUntil() - clock();
    if (wait <= 0) return true;
    const delay = wait + random() * RETRY_AFTER_JITTER_MS;
    if (clock() + delay + MIN_CALL_BUDGET_MS > endsAt) return false;
    await sleep(delay);
    return true;
  }

  async function exchange(
    grantId: string,
    refreshToken: string,
    endsAt: number,
    gate: RateGate,
  ): Promise<ExchangeOutcome> {
    let transientFailures = 0;
    let rateLimited = 0;
    let last: TokenExchangeError | undefined;
    for (;;) {
      if (!(await passGate(gate, endsAt))) return { kind: 'failed', error: last, throttled: true };
      if (endsAt - clock() < MIN_CALL_BUDGET_MS) return { kind: 'failed', error: last, throttled: false };
      try {
        const issuedAt = clock();
        const limit = deadline({ perCallMs: deps.smartcarTimeoutMs, endsAt, now: clock });
        return {
          kind: 'ok',
          tokens: await deps.smartcar.exchangeRefreshToken(refreshToken, limit, issuedAt),
        };
      } catch (error) {
        const failure = classifyTokenExchangeError(error, clock());
        last = failure;
        logger.warn('Refresh token exchange failed', {
          grantId,
          smartcarError: describeSmartcarError(failure),
        });
        if (failure.kind === 'rate_limited') {
          rateLimited += 1;
          metrics.addMetric('SmartcarRateLimited', MetricUnit.Count, 1);
          const wait =
            failure.details.retryAfterMs ?? RATE_LIMIT_BACKOFF_MS * 2 ** Math.max(0, rateLimited - 1);
          // Everyone sharing the gate (the whole run) holds back until then; passGate adds the jitter.
          gate.block(clock() + wait);
          if (rateLimited > RATE_LIMIT_RETRIES) return { kind: 'failed', error: failure, throttled: true };
          continue;
        }
        if (failure.kind === 'transient') {
          transientFailures += 1;
          const delay = backoff(transientFailures, EXCHANGE_BACKOFF_BASE_MS, EXCHANGE_BACKOFF_CAP_MS);
          if (transientFailures >= EXCHANGE_ATTEMPTS || clock() + delay + MIN_CALL_BUDGET_MS > endsAt) {
            return { kind: 'failed', error: failure, throttled: false };
          }
          await sleep(delay);
          continue;
        }
        return { kind: 'failed', error: failure, throttled: false };
      }
    }
  }

  async function rotateClaimed(
    claim: GrantClaim,
    request: RotationRequest,
    gate: RateGate,
  ): Promise<RotationResult> {
    const { grant } = claim;
    const resumed = grant.leaseOwner !== undefined;
    if (resumed) {
      logger.warn('Taking over an interrupted rotation', {
        grantId: grant.grantId,
        previousLeaseUntil: grant.leaseUntil,
      });
    }

    if (grant.vehicleIds.length === 0) {
      if (
        grant.createdAt <= request.now - ORPHAN_MIN_AGE_MS &&
        (await tokens.deleteGrantIfUnused(grant.grantId))
      ) {
        logger.info('Deleted grant without vehicles', { grantId: grant.grantId });
        metrics.addMetric('TokenRefreshOrphansDeleted', MetricUnit.Count, 1);
        return { outcome: 'skipped', reason: 'orphan_deleted' };
      }
      // A callback may still be linking its vehicles: leave it alone this time.
      await release(claim);
      return { outcome: 'skipped', reason: 'orphan_young' };
    }

    // Past its 60 days Smartcar would only answer invalid_grant: no call.
    if (grant.refreshExpiresAt <= request.now) return needsReauth(claim, 'refresh_token_expired', resumed);

    let refreshToken: string;
    try {
      refreshToken = await claim.refreshToken();
    } catch (error) {
      await release(claim);
      if (error instanceof TokenDecryptionError) {
        logger.error('The stored refresh token does not decrypt under its grant', { grantId: grant.grantId });
      } else {
        logger.error('Could not decrypt the refresh token', {
          grantId: grant.grantId,
          error: error as Error,
        });
      }
      return { outcome: 'failed', reason: 'decrypt_failed' };
    }

    // Before Smartcar is asked for a new pair, what is needed to park it durably (no KMS call at parking).
    let seal: PairSeal | undefined;
    if (deps.recovery !== undefined) {
      try {
        seal = await deps.recovery.sealer.prepare(grant);
      } catch (error) {
        await release(claim);
        logger.error('Could not prepare the recovery seal; not refreshing without it', {
          grantId: grant.grantId,
          error: error as Error,
        });
        return { outcome: 'failed', reason: 'recovery_unavailable' };
      }
    }
    try {
      return await exchangeAndStore(claim, request, gate, refreshToken, seal, resumed);
    } finally {
      seal?.discard();
    }
  }

  async function exchangeAndStore(
    claim: GrantClaim,
    request: RotationRequest,
    gate: RateGate,
    refreshToken: string,
    seal: PairSeal | undefined,
    resumed: boolean,
  ): Promise<RotationResult> {
    const { grant } = claim;
    const exchangeEndsAt = Math.min(request.endsAt, claim.leaseUntil) - PERSIST_RESERVE_MS;
    const exchanged = await exchange(grant.grantId, refreshToken, exchangeEndsAt, gate);
    if (exchanged.kind === 'failed') {
      const { error, throttled } = exchanged;
      if (error?.kind === 'invalid_grant') return needsReauth(claim, 'invalid_grant', resumed);
      // Smartcar did not rotate (or, after a lost answer, the stored token is in its reuse window): hand the
      // grant back at once so the next claimant need not wait for the lease.
      await release(claim);
      if (throttled) {
        return {
          outcome: 'throttled',
          ...(error?.details.retryAfterMs !== undefined && { retryAfterMs: error.details.retryAfterMs }),
        };
      }
      if (error?.kind === 'client_rejected') {
        // Our client id/secret, not the owner's grant: never NEEDS_REAUTH for this.
        metrics.addMetric('SmartcarClientRejected', MetricUnit.Count, 1);
        logger.error('Smartcar rejected the client credentials', {
          smartcarError: describeSmartcarError(error),
        });
        return { outcome: 'failed', reason: 'client_rejected' };
      }
      if (error === undefined) return { outcome: 'failed', reason: 'no_time' };
      return {
        outcome: 'failed',
        reason: error.kind === 'rejected' ? 'smartcar_rejected' : 'smartcar_unavailable',
      };
    }

    // The parking's share of what is left: PARK_RESERVE_MS for the job (minutes left), but at most half for an
    // on-demand refresh (getAccessToken has seconds), so that its persist is still tried before it parks.
    const parkReserve = Math.min(PARK_RESERVE_MS, Math.max(0, request.endsAt - clock()) / 2);
    const persistUntil = seal === undefined ? request.endsAt : request.endsAt - parkReserve;
    const stored = await persist(claim, exchanged.tokens, persistUntil);
    if (stored.kind === 'ok') {
      if (resumed) {
        metrics.addMetric('TokenRotationRecovered', MetricUnit.Count, 1);
        logger.info('Recovered an interrupted rotation', { grantId: grant.grantId });
      }
      return { outcome: 'rotated', grant: stored.grant, tokens: exchanged.tokens, resumed };
    }
    if (stored.kind === 'gone') {
      logger.info('The grant was deleted during its rotation', { grantId: grant.grantId });
      return { outcome: 'skipped', reason: 'grant_deleted' };
    }
    if (stored.kind === 'lost') {
      metrics.addMetric('TokenRotationNotPersisted', MetricUnit.Count, 1);
      logger.error('Another claimant took the grant over: the pair Smartcar issued to us was discarded', {
        grantId: grant.grantId,
      });
      return { outcome: 'failed', reason: 'lease_lost' };
    }
    if (seal !== undefined && (await park(claim, seal, exchanged.tokens, request.endsAt))) {
      // Durable, but not where it belongs yet: the next run applies it first (alarm: TokenRotationParked).
      // The lease is kept: nobody should exchange the rotated token while it holds.
      metrics.addMetric('TokenRotationParked', MetricUnit.Count, 1);
      logger.error('The rotated pair could not be stored; parked in the recovery queue for the next run', {
        grantId: grant.grantId,
        error: stored.error as Error,
      });
      return { outcome: 'failed', reason: 'parked' };
    }
    metrics.addMetric('TokenRotationNotPersisted', MetricUnit.Count, 1);
    logger.error(
      'Smartcar rotated the refresh token but the new pair could not be stored; the stored token works for ' +
        'about a minute more',
      { grantId: grant.grantId, error: stored.error as Error },
    );
    // Released so that a claimant within the reuse window can recover with the stored token.
    await release(claim);
    return { outcome: 'failed', reason: 'not_persisted' };
  }

  return {
    async rotate(request) {
      const gate = request.gate ?? ownGate;
      // While Smartcar asked us to hold back longer than this rotation could wait, do not even claim.
      if (!(await passGate(gate, request.endsAt - PERSIST_RESERVE_MS))) {
        return { outcome: 'throttled' };
      }
      const owner = `${request.claimant}#${randomUUID()}`;
      let claim: GrantClaim | undefined;
      try {
        claim = await tokens.claimGrant({
          grantId: request.grantId,
          version: request.version,
          owner,
          now: clock(),
          leaseMs: deps.leaseMs,
        });
      } catch (error) {
        logger.error('Could not claim the grant', { grantId: request.grantId, error: error as Error });
        return { outcome: 'failed', reason: 'claim_failed' };
      }
      if (claim === undefined) return { outcome: 'skipped', reason: 'claimed_elsewhere' };
      try {
        return await rotateClaimed(claim, request, gate);
      } catch (error) {
        // Unexpected (a bug, or DynamoDB failing in the orphan clean-up): give the grant back.
        logger.error('Rotation failed unexpectedly', { grantId: request.grantId, error: error as Error });
        await release(claim);
        return { outcome: 'failed', reason: 'unexpected' };
      }
    },
  };
}
