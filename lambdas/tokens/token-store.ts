import type { TokenSet } from '../smartcar/gateway.js';
import type { ParkedRotation } from './token-recovery.js';
import type { ClaimRequest, DueGrant, DueIndex, GrantClaim, GrantRecord, NewGrant } from './grant.js';

/**
 * The grant repository (docs/design.md, "Token table"). Used by the callback (create), disconnect (delete when
 * unused) and the refresh job (select due grants from the due indexes, claim with a lease, persist the rotated
 * pair conditionally on `version` and the lease, mark NEEDS_REAUTH). The DynamoDB adapter: dynamo-token-store.ts.
 *
 * Plaintext tokens exist only in memory, are never logged and never written to DynamoDB.
 */
export interface TokenStore {
  /** Encrypts the pair and puts a new grant (`attribute_not_exists(grantId)`), without vehicles yet. */
  createGrant(input: NewGrant): Promise<GrantRecord>;
  /** Metadata only (no KMS call). Strongly consistent by default: it feeds conditional writes. */
  getGrant(grantId: string, options?: { readonly consistent?: boolean }): Promise<GrantRecord | undefined>;
  /** The grant and its decrypted pair; undefined when the grant does not exist. */
  readGrantTokens(grantId: string): Promise<{ grant: GrantRecord; tokens: TokenSet } | undefined>;
  /**
   * Marks the grant NEEDS_REAUTH (refresh token rejected or expired) and takes it out of the due indexes
   * (REMOVE `dueShard`) and any lease; conditional on `version` (and on holding the lease when `owner` is
   * given); GrantConflictError otherwise.
   */
  markNeedsReauth(
    grant: GrantRecord,
    now: number,
    options?: { readonly owner?: string; readonly reason?: string },
  ): Promise<void>;
  /** Deletes the grant if no vehicle uses it (`attribute_not_exists(vehicleIds)`); true when deleted. */
  deleteGrantIfUnused(grantId: string): Promise<boolean>;
  /**
   * Every grant of a due-time index whose expiry is at or before `dueBy`, soonest first (Query, paginated,
   * eventually consistent: the claim's version condition catches stale entries).
   */
  listDue(index: DueIndex, dueBy: number): Promise<DueGrant[]>;
  /**
   * Takes the rotation lease: conditional on `version`, ACTIVE and no live lease. Undefined when the condition
   * fails (another claimant holds it, it was rotated, re-authorization is needed, or it is gone).
   */
  claimGrant(request: ClaimRequest): Promise<GrantClaim | undefined>;
  /**
   * Stores the pair Smartcar issued for a claim: conditional on the claimed `version` and still holding the
   * lease; sets `version + 1`, ACTIVE, `dueShard`, `rotatedBy = owner` and removes the lease. GrantConflictError
   * when the condition fails (`getGrant(...).rotatedBy` tells whether an earlier attempt of ours landed).
   */
  persistRotation(claim: GrantClaim, tokens: TokenSet, now: number): Promise<GrantRecord>;
  /**
   * Stores a pair a rotation parked in the recovery queue (token-recovery.ts) as its persist would have:
   * conditional on the claimed version (whatever the status: a NEEDS_REAUTH mark of that version is replaced)
   * and on no live lease of another owner. Returns the grant as it was before the write; GrantConflictError
   * when the condition fails.
   */
  applyParkedRotation(parked: ParkedRotation, tokens: TokenSet, now: number): Promise<GrantRecord>;
  /** Gives the lease back without a rotation; false when it was no longer ours. */
  releaseClaim(claim: GrantClaim): Promise<boolean>;
  /**
   * A PENDING grant learns its Smartcar user, the vehicles the Connect authorized (`pendingVehicleIds`,
   * `connectVehicleIds`) and, when given, the granted permissions. GrantConflictError when it is no longer PENDING.
   */
  completePending(
    grantId: string,
    completion: {
      readonly smartcarUserId: string;
      readonly vehicleIds: readonly string[];
      /** The permissions the owner granted, when they could be read. */
      readonly permissions?: readonly string[];
    },
    now: number,
  ): Promise<GrantRecord>;
  /** Moves a PENDING grant's `connectExpiresAt` to now (the next expiry run revokes it); false if not PENDING. */
  expirePendingNow(grantId: string, now: number): Promise<boolean>;
  /**
   * PENDING → ACTIVE (into the refresh indexes), conditional on `appUserId`, the window not having passed and
   * the grant being complete; GrantConflictError otherwise.
   */
  activatePending(grantId: string, appUserId: string, now: number): Promise<GrantRecord>;
  /** Every pending vehicle is linked: REMOVE `pendingVehicleIds`. */
  finishLinking(grantId: string, now: number): Promise<void>;
  /**
   * PENDING (or already REVOKING) → REVOKING, so that no confirm can activate it while it is revoked at
   * Smartcar; with `expiredOnly`, only once its window has passed. Undefined when the condition fails.
   */
  markRevoking(
    grantId: string,
    now: number,
    options?: { readonly expiredOnly?: boolean },
  ): Promise<GrantRecord | undefined>;
  /** Deletes a REVOKING grant (its connections are revoked); false when it is not (or no longer) there. */
  deleteRevoked(grantId: string): Promise<boolean>;
  /** Ids of every PENDING and REVOKING grant (one small index partition). */
  listPending(): Promise<string[]>;
  /** Every grant's metadata (a Scan without the ciphertexts): the daily reconciliation only. */
  listAllGrants(): Promise<GrantRecord[]>;
  /** The grant and its decrypted access token only (one KMS call); undefined when the grant does not exist. */
  readAccessToken(grantId: string): Promise<{ grant: GrantRecord; accessToken: string } | undefined>;
}
