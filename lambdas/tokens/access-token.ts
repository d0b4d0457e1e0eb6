import { createRateGate, type RateGate } from './rate-gate.js';
import { realSleep, type TokenRotation } from './token-rotation.js';
import { GRANT_NEEDS_REAUTH, type GrantRecord } from './grant.js';
import type { TokenStore } from './token-store.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';

/**
 * getAccessToken(vehicleId) (docs/design.md, end of "Atomic rotation"): the access token to call Smartcar's
 * vehicle API with, refreshed on demand through the same claim/exchange/persist path as the scheduled job, so a
 * job run and any number of callers racing on one grant still cause one Smartcar call.
 */

/** A token expiring sooner than this is refreshed first (a Smartcar call made with it must not outlive it). */
export const ACCESS_TOKEN_MIN_VALIDITY_MS = 5 * 60 * 1000;
/**
 * When the refresh itself fails (Smartcar throttling or down), a token still valid for at least this long is
 * returned anyway: usable for a call now, and better than failing a request a refresh could not help.
 */
export const ACCESS_TOKEN_FALLBACK_VALIDITY_MS = 30 * 1000;
/** Default limit of one getAccessToken call, waiting for another claimant included (API Lambdas have ~29 s). */
export const DEFAULT_ACCESS_TOKEN_BUDGET_MS = 20_000;
const WAIT_BASE_MS = 100;
const WAIT_CAP_MS = 2_000;

export interface AccessToken {
  readonly accessToken: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  readonly grantId: string;
}

/** No profile, no grant, or disconnected: there is no token to give. */
export class VehicleNotConnectedError extends Error {
  override readonly name = 'VehicleNotConnectedError';
  constructor(readonly vehicleId: string) {
    super(`vehicle ${vehicleId} is not connected`);
  }
}

/** The grant's refresh token was refused or expired: the owner must go through Connect again. */
export class GrantNeedsReauthError extends Error {
  override readonly name = 'GrantNeedsReauthError';
  constructor(
    readonly vehicleId: string,
    readonly grantId: string,
  ) {
    super(`vehicle ${vehicleId}: grant ${grantId} needs re-authorization`);
  }
}

/** A fresh token could not be had in time (Smartcar throttling/down, storage failing, another holder too slow). */
export class AccessTokenUnavailableError extends Error {
  override readonly name = 'AccessTokenUnavailableError';
  constructor(
    readonly vehicleId: string,
    readonly reason: string,
  ) {
    super(`vehicle ${vehicleId}: no valid access token (${reason})`);
  }
}

export interface AccessTokenDeps {
  readonly links: Pick<VehicleLinkStore, 'getProfile'>;
  readonly tokens: Pick<TokenStore, 'readAccessToken'>;
  readonly rotation: TokenRotation;
  /** Wall clock; must be the one the rotation uses for leases. */
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly budgetMs?: number;
  /** Shared 429 gate; default one per provider (per container when created at cold start). */
  readonly gate?: RateGate;
  /** Written into `leaseOwner`, e.g. the Lambda's name. */
  readonly claimant?: string;
}

export interface AccessTokenProvider {
  /**
   * A valid access token of the vehicle's grant. Throws VehicleNotConnectedError, GrantNeedsReauthError or
   * AccessTokenUnavailableError; storage errors propagate as they are.
   */
  getAccessToken(vehicleId: string, options?: { readonly endsAt?: number }): Promise<AccessToken>;
}

export function createAccessTokenProvider(deps: AccessTokenDeps): AccessTokenProvider {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const gate = deps.gate ?? createRateGate();
  const claimant = deps.claimant ?? 'access';

  function usable(grant: GrantRecord, accessToken: string, minValidityMs: number): AccessToken | undefined {
    return grant.accessExpiresAt - clock() > minValidityMs
      ? { accessToken, expiresAt: grant.accessExpiresAt, grantId: grant.grantId }
      : undefined;
  }

  return {
    async getAccessToken(vehicleId, options = {}) {
      const endsAt = options.endsAt ?? clock() + (deps.budgetMs ?? DEFAULT_ACCESS_TOKEN_BUDGET_MS);
      const profile = await deps.links.getProfile(vehicleId);
      if (profile?.grantId === undefined || profile.status === DISCONNECTED) {
        throw new VehicleNotConnectedError(vehicleId);
      }
      const { grantId } = profile;

      for (let round = 1; ; round += 1) {
        const current = await deps.tokens.readAccessToken(grantId);
        if (current === undefined || !current.grant.vehicleIds.includes(vehicleId)) {
          throw new VehicleNotConnectedError(vehicleId);
        }
        const { grant, accessToken } = current;
        if (grant.status === GRANT_NEEDS_REAUTH) throw new GrantNeedsReauthError(vehicleId, grantId);
        const fresh = usable(grant, accessToken, ACCESS_TOKEN_MIN_VALIDITY_MS);
        if (fresh) return fresh;

        const now = clock();
        // Same test as the claim's condition: a live lease means someone is rotating right now.
        const leaseLive = grant.leaseUntil !== undefined && grant.leaseUntil >= now;
        if (!leaseLive) {
          const result = await deps.rotation.rotate({
            grantId,
            version: grant.version,
            now,
            endsAt,
            claimant,
            gate,
          });
          if (result.outcome === 'rotated') {
            return {
              accessToken: result.tokens.accessToken,
              expiresAt: result.grant.accessExpiresAt,
              grantId,
            };
          }
          if (result.outcome === 'needs_reauth') throw new GrantNeedsReauthError(vehicleId, grantId);
          if (result.outcome === 'throttled' || result.outcome === 'failed') {
            const stillValid = usable(grant, accessToken, ACCESS_TOKEN_FALLBACK_VALIDITY_MS);
            if (stillValid) return stillValid;
            throw new AccessTokenUnavailableError(
              vehicleId,
              result.outcome === 'throttled' ? 'rate_limited' : result.reason,
            );
          }
          // 'skipped': another claimant won between our read and our claim.
        }

        // Someone else holds the claim: wait for its write (re-read with backoff) rather than call Smartcar.
        const delay = Math.min(WAIT_CAP_MS, WAIT_BASE_MS * 2 ** (round - 1));
        if (clock() + delay > endsAt) {
          const stillValid = usable(grant, accessToken, ACCESS_TOKEN_FALLBACK_VALIDITY_MS);
          if (stillValid) return stillValid;
          throw new AccessTokenUnavailableError(vehicleId, 'refresh_in_progress');
        }
        await sleep(delay);
      }
    },
  };
}
