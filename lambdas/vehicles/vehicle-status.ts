import { signalGroupOf, usedSignalGroups } from './used-signals.js';

/**
 * What a vehicle needs, derived on read from its profile and active errors (docs/design.md, "Truthful vehicle
 * status"). Two separate answers:
 *
 * - `status` is the connection: CONNECTED, NEEDS_REAUTH (only what going through Smartcar Connect again fixes)
 *   or DISCONNECTED.
 * - `actionRequired` is what the owner must do somewhere else (the brand's app, a virtual key), which Connect
 *   does not fix: an `ACTION_REQUIRED` resolution, or a connected-services-account error without a resolution.
 *
 * An error that names only signals the app does not use changes neither. A failure of the connection itself
 * counts whatever signals it names. A re-Connect after an error resolves the re-auth errors older than it.
 */

export const CONNECTED = 'CONNECTED';
export const NEEDS_REAUTH = 'NEEDS_REAUTH';
export const DISCONNECTED = 'DISCONNECTED';

const CONNECTED_SERVICES_ACCOUNT = 'CONNECTED_SERVICES_ACCOUNT';

export interface StatusRelevantError {
  readonly type: string;
  readonly code?: string | null;
  readonly state: string;
  readonly resolution?: { readonly type?: string | null; readonly url?: string | null } | null;
  /** Signal codes the error names; empty or absent = the whole vehicle. */
  readonly signals?: readonly string[];
  readonly description?: string | null;
  readonly suggestedUserMessage?: string | null;
  /** When the error was reported (epoch ms), compared with the profile's `connectedAt`. */
  readonly at?: number;
}

export interface ActionRequired {
  readonly type: string;
  readonly code: string | null;
  readonly resolution?: { readonly type: string; readonly url?: string };
  readonly suggestedUserMessage?: string;
}

/** The profile attributes the rules read. */
export interface StatusProfile {
  readonly status?: string;
  /** When the vehicle was last linked by Connect (epoch ms). */
  readonly connectedAt?: number;
  /** The permissions of the grant the vehicle was linked with; absent = no grant (every signal counts). */
  readonly permissions?: readonly string[];
}

export interface StatusOptions {
  /**
   * Signal groups (lower case, e.g. `tractionbattery`) the app uses; overrides the default, which is the groups
   * the grant's permissions cover (lambdas/vehicles/used-signals.ts).
   */
  readonly usedSignalGroups?: ReadonlySet<string>;
}

export interface VehicleStatus {
  readonly status: string;
  readonly actionRequired: ActionRequired | null;
}

export type ErrorEffect = 'reauth' | 'action' | 'none';

/** A failure of the connection itself: nothing works until the owner connects again, whatever signals it names. */
function isConnectionFailure(error: StatusRelevantError): boolean {
  return (
    error.type === 'AUTHENTICATION' ||
    (error.type === CONNECTED_SERVICES_ACCOUNT && error.code === 'AUTHENTICATION_FAILED')
  );
}

/** False when the error names signals and none of them is in a group the app uses. */
function concernsUsedSignals(error: StatusRelevantError, used: ReadonlySet<string> | undefined): boolean {
  const signals = error.signals ?? [];
  if (used === undefined || signals.length === 0) return true;
  return signals.some((code) => used.has(signalGroupOf(code)));
}

/** What one error means for the vehicle (docs/design.md, "Truthful vehicle status"). */
export function errorEffect(
  error: StatusRelevantError,
  options: { used?: ReadonlySet<string> } = {},
): ErrorEffect {
  if (error.state !== 'ERROR') return 'none';
  if (isConnectionFailure(error)) return 'reauth';
  if (!concernsUsedSignals(error, options.used)) return 'none';
  const resolution = error.resolution?.type ?? null;
  if (resolution === 'REAUTHENTICATE') return 'reauth';
  if (resolution === 'ACTION_REQUIRED') return 'action';
  // Smartcar gives ACCOUNT_ISSUE, SUBSCRIPTION, VEHICLE_MISSING… no resolution: the owner fixes them in the
  // brand's own app or portal, and sending them through Connect again would not help.
  if (error.type === CONNECTED_SERVICES_ACCOUNT && resolution === null) return 'action';
  return 'none';
}

/** True for an active error that only the owner can fix by connecting again (no signal filter, no re-Connect). */
export function requiresReauth(error: StatusRelevantError): boolean {
  return errorEffect(error) === 'reauth';
}

/**
 * A re-auth error reported before the latest Connect is resolved by it: the owner did what it asked. Errors
 * without a time are kept (nothing says the Connect came after them).
 */
export function resolvedByReconnect(error: StatusRelevantError, profile: StatusProfile): boolean {
  return (
    profile.connectedAt !== undefined &&
    error.at !== undefined &&
    error.at <= profile.connectedAt &&
    errorEffect(error) === 'reauth'
  );
}

function actionOf(error: StatusRelevantError): ActionRequired {
  const type = error.resolution?.type ?? null;
  const url = error.resolution?.url ?? null;
  return {
    type: error.type,
    code: error.code ?? null,
    ...(type !== null && { resolution: { type, ...(url !== null && { url }) } }),
    ...(typeof error.suggestedUserMessage === 'string' && {
      suggestedUserMessage: error.suggestedUserMessage,
    }),
  };
}

/**
 * DISCONNECTED (set on the profile by a disconnect) wins: the owner ended the connection, there is nothing to
 * re-authenticate or act on. Else NEEDS_REAUTH if the profile says so (the refresh job) or an active error
 * requires it; else CONNECTED. `actionRequired` is the first active error asking for an action elsewhere.
 */
export function vehicleStatus(
  profile: StatusProfile,
  errors: readonly StatusRelevantError[],
  options: StatusOptions = {},
): VehicleStatus {
  if (profile.status === DISCONNECTED) return { status: DISCONNECTED, actionRequired: null };
  const used = options.usedSignalGroups ?? usedSignalGroups(profile.permissions);
  const active = errors.filter((error) => !resolvedByReconnect(error, profile));
  const effects = active.map((error) => ({ error, effect: errorEffect(error, { used }) }));
  const reauth = profile.status === NEEDS_REAUTH || effects.some(({ effect }) => effect === 'reauth');
  const action = effects.find(({ effect }) => effect === 'action');
  return {
    status: reauth ? NEEDS_REAUTH : CONNECTED,
    actionRequired: action ? actionOf(action.error) : null,
  };
}

/** The `status` alone (see vehicleStatus). */
export function deriveVehicleStatus(
  profile: StatusProfile | string | undefined,
  errors: readonly StatusRelevantError[],
  options: StatusOptions = {},
): string {
  const given = typeof profile === 'string' || profile === undefined ? { status: profile } : profile;
  return vehicleStatus(given, errors, options).status;
}
