/**
 * The vehicle status shown to clients, derived on read from the active errors (docs/design.md, ordering rules):
 * an error that only the vehicle owner can fix by reconnecting makes the vehicle NEEDS_REAUTH until it is resolved.
 */

export const CONNECTED = 'CONNECTED';
export const NEEDS_REAUTH = 'NEEDS_REAUTH';
export const DISCONNECTED = 'DISCONNECTED';

export interface StatusRelevantError {
  readonly type: string;
  readonly state: string;
  readonly resolution?: { readonly type?: string | null } | null;
}

/** True for an active error that needs the owner to re-authenticate in Smartcar Connect. */
export function requiresReauth(error: StatusRelevantError): boolean {
  if (error.state !== 'ERROR') return false;
  return error.resolution?.type === 'REAUTHENTICATE' || error.type === 'CONNECTED_SERVICES_ACCOUNT';
}

/**
 * DISCONNECTED (set on the profile by a disconnect) wins: the owner ended the connection, there is nothing to
 * re-authenticate. Else NEEDS_REAUTH if any active error requires it; else the profile's status; else CONNECTED.
 */
export function deriveVehicleStatus(
  profileStatus: string | undefined,
  errors: readonly StatusRelevantError[],
): string {
  if (profileStatus === DISCONNECTED) return DISCONNECTED;
  if (errors.some(requiresReauth)) return NEEDS_REAUTH;
  return profileStatus ?? CONNECTED;
}
