import type { TokenSet } from '../smartcar/gateway.js';

/**
 * The grant (docs/design.md, "Token table"): one per Connect authorization, holding its token pair as KMS
 * ciphertexts. The domain types, statuses and errors of the token store (the port: token-store.ts; the DynamoDB
 * adapter: dynamo-token-store.ts).
 */

// The encryption context a token is bound to is a contract with the token key's IAM conditions.
import type { TokenType } from '../../contracts/index.js';

export type { TokenContext, TokenType } from '../../contracts/index.js';

export const GRANT_ACTIVE = 'ACTIVE';
export const GRANT_NEEDS_REAUTH = 'NEEDS_REAUTH';
/**
 * Stored by the callback, waiting for `POST /connect/{connectId}/confirm` (docs/design.md, "Confirmed
 * connect"): its vehicles are in `pendingVehicleIds`, never on a profile, so they are not listed and no
 * access token is handed out for them. Out of the refresh indexes (`dueShard = PENDING`).
 */
export const GRANT_PENDING = 'PENDING';
/** A pending grant being revoked at Smartcar (mismatch, expiry, user removal): deleted once that is done. */
export const GRANT_REVOKING = 'REVOKING';
export type GrantStatus =
  typeof GRANT_ACTIVE | typeof GRANT_NEEDS_REAUTH | typeof GRANT_PENDING | typeof GRANT_REVOKING;

/** A grant's metadata: everything but the token ciphertexts. */
export interface GrantRecord {
  readonly grantId: string;
  readonly appUserId: string;
  /** The Smartcar user who authorized it (from `GET /user`); absent only on a pending grant not yet completed. */
  readonly smartcarUserId?: string;
  /** ARN of the KMS key that encrypted the current token pair. */
  readonly keyId: string;
  readonly accessExpiresAt: number;
  readonly refreshExpiresAt: number;
  /** 1 at creation, +1 per rotation; every token write is conditional on it. */
  readonly version: number;
  /** Vehicles currently linked to the grant (sorted); empty means the grant is about to be deleted. */
  readonly vehicleIds: readonly string[];
  readonly status: GrantStatus;
  readonly scopes: readonly string[];
  /**
   * The permissions the owner actually granted (Smartcar `GET /vehicles/{id}/permissions` at connect time);
   * absent for grants stored before it was read, or when that read failed.
   */
  readonly permissions?: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Pending grants: when the expiry job revokes it if nobody confirmed it. */
  readonly connectExpiresAt?: number;
  /** Vehicles the Connect authorized, not linked yet (pending, or confirmed with linking unfinished). */
  readonly pendingVehicleIds?: readonly string[];
  /** Vehicles the Connect authorized (kept, so that a repeated confirm answers the same). */
  readonly connectVehicleIds?: readonly string[];
  /** Who holds the rotation lease (present only while claimed, or after a claimant died). */
  readonly leaseOwner?: string;
  /** Epoch ms until which the lease holds; a claim may take over once it has passed. */
  readonly leaseUntil?: number;
  /** Lease owner whose persist wrote the current pair (absent before the first rotation). */
  readonly rotatedBy?: string;
}

/** One entry of a due-time index: enough to claim the grant (the claim itself returns the whole item). */
export interface DueGrant {
  readonly grantId: string;
  readonly version: number;
  readonly accessExpiresAt?: number;
  readonly refreshExpiresAt?: number;
}

export type DueIndex = 'refresh' | 'access';

export interface ClaimRequest {
  readonly grantId: string;
  /** The version the claimant saw (index or read); a different one means someone rotated meanwhile. */
  readonly version: number;
  /** Unique per claim attempt: the persist and release writes are conditional on it. */
  readonly owner: string;
  /** Wall clock (epoch ms) of the claim; leases are compared across processes on this clock. */
  readonly now: number;
  readonly leaseMs: number;
}

/** A grant this caller holds the rotation lease of (see lambdas/tokens/token-rotation.ts). */
export interface GrantClaim {
  /** The grant as it was claimed (its `leaseOwner`/`leaseUntil` are the previous, expired lease, if any). */
  readonly grant: GrantRecord;
  readonly owner: string;
  readonly leaseUntil: number;
  /** Decrypts the claimed item's refresh token (TokenDecryptionError when it does not belong to the grant). */
  refreshToken(): Promise<string>;
}

export interface NewGrant {
  /** Defaults to a random UUID. */
  readonly grantId?: string;
  readonly appUserId: string;
  /** Unknown when the grant is stored right after the code exchange (pending, completed just after). */
  readonly smartcarUserId?: string;
  readonly scopes: readonly string[];
  /** The permissions Smartcar says were granted, when they could be read. */
  readonly permissions?: readonly string[];
  readonly tokens: TokenSet;
  readonly now: number;
  /** Stores it PENDING until this time (epoch ms), out of the refresh indexes; default ACTIVE. */
  readonly pendingUntil?: number;
}

/** The stored ciphertext does not decrypt under the grant's context: tampered, moved, or the wrong key. */
export class TokenDecryptionError extends Error {
  override readonly name = 'TokenDecryptionError';
  constructor(
    readonly grantId: string,
    readonly tokenType: TokenType,
    options?: { cause?: unknown },
  ) {
    super(
      `the ${tokenType} token of grant ${grantId} does not decrypt under its encryption context`,
      options,
    );
  }
}

/** A conditional token write lost: the grant changed (another rotation won) or no longer exists. */
export class GrantConflictError extends Error {
  override readonly name = 'GrantConflictError';
  constructor(readonly grantId: string) {
    super(`grant ${grantId} was changed or deleted concurrently`);
  }
}

/** The grant item is missing fields it must have; it is reported, never "repaired" silently. */
export class MalformedGrantError extends Error {
  override readonly name = 'MalformedGrantError';
  constructor(
    readonly grantId: string,
    readonly field: string,
  ) {
    super(`grant ${grantId} has no valid ${field}`);
  }
}
