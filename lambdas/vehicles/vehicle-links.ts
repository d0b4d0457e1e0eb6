/**
 * The link between a vehicle profile (vehicle state table) and its grant (token table): the profile's connection
 * attributes (`grantId`, `appUserId`, `smartcarUserId`, `status` CONNECTED / DISCONNECTED / NEEDS_REAUTH).
 * docs/design.md "Vehicle profile additions", "Callback storage order" and "Disconnect". The DynamoDB adapter,
 * the one writer of these attributes: dynamo-vehicle-links.ts. (Webhook-derived profile attributes are the
 * processor's, lambdas/webhook-processor/store.ts.)
 */

export interface ProfileLink {
  readonly vehicleId: string;
  readonly appUserId?: string;
  readonly grantId?: string;
  readonly smartcarUserId?: string;
  readonly status?: string;
}

export interface LinkInput {
  readonly vehicleId: string;
  readonly grantId: string;
  readonly appUserId: string;
  readonly smartcarUserId: string;
  readonly make: string | null;
  readonly model: string | null;
  readonly year: number | null;
  /**
   * The permissions the grant was asked for (stored on the profile as `permissions`: the default of which signals
   * count for the vehicle's status, vehicle-status.ts). Empty or absent: unknown, every signal counts.
   */
  readonly permissions?: readonly string[];
  readonly now: number;
}

export interface VehicleLinkStore {
  /** The live profile's link attributes (strongly consistent), or undefined when there is no profile. */
  getProfile(vehicleId: string): Promise<ProfileLink | undefined>;
  /**
   * Links the vehicle to `grantId` (profile + new grant's `vehicleIds`) and removes it from the grant it used
   * before, in one transaction. Returns that previous grant (the caller deletes it if it is now empty).
   */
  link(input: LinkInput): Promise<{ readonly previousGrantId?: string }>;
  /**
   * Marks the profile DISCONNECTED, removes its `grantId` and takes the vehicle out of that grant's
   * `vehicleIds`, in one transaction. Returns the grant it used (the caller deletes it if now empty), or
   * undefined when there is no profile. With `expectedGrantId` (`null`: no grant) nothing is written when the
   * profile is on another grant — a re-link that landed after the caller revoked the expected one — and the
   * answer is `{ relinked: true }`.
   */
  unlink(
    vehicleId: string,
    now: number,
    options?: { readonly expectedGrantId?: string | null },
  ): Promise<{ readonly grantId?: string; readonly relinked?: boolean } | undefined>;
  /** Ids of the vehicles whose profile names this app user (index `byAppUser`, eventually consistent). */
  listUserVehicleIds(appUserId: string): Promise<string[]>;
}

export class LinkContentionError extends Error {
  override readonly name = 'LinkContentionError';
  constructor(readonly vehicleId: string) {
    super(`vehicle ${vehicleId}: the link kept changing concurrently`);
  }
}

/** Marks the vehicle profiles of a grant NEEDS_REAUTH (vehicle state table), or sets them back. */
export interface VehicleReauthMarker {
  markNeedsReauth(vehicleIds: readonly string[], grantId: string, now: number): Promise<void>;
  /**
   * Profiles of the grant that are NEEDS_REAUTH back to CONNECTED: the grant got a valid pair after all (a
   * parked rotation applied after a claimant's invalid_grant). Others (DISCONNECTED, another grant) untouched.
   */
  clearNeedsReauth(vehicleIds: readonly string[], grantId: string, now: number): Promise<void>;
}
