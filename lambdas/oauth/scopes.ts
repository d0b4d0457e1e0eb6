/**
 * The Smartcar permission names (OAuth scopes) a Connect URL may ask for, from
 * https://smartcar.com/docs/api-reference/permissions (read and control permissions). A name outside this list is
 * rejected by us with a 400 naming it, instead of sending the owner to a Connect `configuration_error` page.
 * Add new permissions here when Smartcar documents them.
 */
export const SMARTCAR_PERMISSIONS = [
  'control_charge',
  'control_climate',
  'control_navigation',
  'control_pin',
  'control_security',
  'control_trunk',
  'read_alerts',
  'read_battery',
  'read_charge',
  'read_charge_events',
  'read_charge_locations',
  'read_charge_records',
  'read_climate',
  'read_compass',
  'read_diagnostics',
  'read_engine_oil',
  'read_extended_vehicle_info',
  'read_fuel',
  'read_location',
  'read_odometer',
  'read_security',
  'read_service_history',
  'read_speedometer',
  'read_thermometer',
  'read_tires',
  'read_user_profile',
  'read_vehicle_info',
  'read_vin',
] as const;

const KNOWN = new Set<string>(SMARTCAR_PERMISSIONS);

/** Smartcar's prefix that makes a permission mandatory in Connect (`required:read_odometer`). */
export const REQUIRED_PREFIX = 'required:';

/** More than every known permission once, each optionally `required:`: anything longer is not a real request. */
export const MAX_SCOPES = SMARTCAR_PERMISSIONS.length * 2;

export function isKnownScope(scope: string): boolean {
  const name = scope.startsWith(REQUIRED_PREFIX) ? scope.slice(REQUIRED_PREFIX.length) : scope;
  return KNOWN.has(name);
}

export type ScopeCheck =
  { readonly ok: true; readonly scopes: string[] } | { readonly ok: false; readonly unknown: string[] };

/**
 * Validates requested scopes: every entry must be a known permission, optionally prefixed with `required:`.
 * Duplicates are dropped (first occurrence kept, order preserved, as Connect shows them in order).
 */
export function checkScopes(scopes: readonly string[]): ScopeCheck {
  const unknown = [...new Set(scopes.filter((scope) => !isKnownScope(scope)))];
  if (unknown.length > 0) return { ok: false, unknown };
  return { ok: true, scopes: [...new Set(scopes)] };
}

/** `read_vehicle_info, read_odometer` (comma and/or whitespace separated) → the list; empty entries dropped. */
export function splitScopeList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((scope) => scope.trim())
    .filter((scope) => scope !== '');
}
