/**
 * Which signals the app uses, by default: the signal groups that the grant's permissions cover. An error that
 * names only signals outside them (e.g. a PERMISSION error on `vehicleuseraccount-*` for an app that never asked
 * for `read_user_profile`) says nothing about what the app reads (vehicle-status.ts).
 *
 * Signal codes are `<group>-<name>` in lower case (`tractionbattery-stateofcharge`); the groups are those of
 * https://smartcar.com/docs/api-reference/signals and of the captured deliveries. Smartcar publishes no
 * machine-readable permission → signal table; this one follows the permission descriptions of
 * https://smartcar.com/docs/api-reference/permissions. A group no permission lists here counts as unused for a
 * grant whose permissions are known; set the read Lambda's USED_SIGNAL_GROUPS to name the groups explicitly.
 */
export const PERMISSION_SIGNAL_GROUPS: Readonly<Record<string, readonly string[]>> = {
  read_alerts: ['surveillance'],
  read_battery: ['tractionbattery', 'lowvoltagebattery'],
  read_charge: ['charge', 'tractionbattery'],
  read_charge_events: ['charge'],
  read_charge_locations: ['charge'],
  read_charge_records: ['charge'],
  read_climate: ['climate', 'hvac'],
  read_compass: ['motion'],
  read_diagnostics: ['diagnostics', 'lowvoltagebattery'],
  read_engine_oil: ['internalcombustionengine', 'diagnostics'],
  read_extended_vehicle_info: [
    'vehicleidentification',
    'transmission',
    'connectivitysoftware',
    'connectivitystatus',
  ],
  read_fuel: ['internalcombustionengine'],
  read_location: ['location'],
  read_odometer: ['odometer'],
  read_security: ['closure', 'islocked'],
  read_service_history: ['service'],
  read_speedometer: ['motion'],
  read_thermometer: ['climate'],
  read_tires: ['wheel'],
  read_user_profile: ['vehicleuseraccount'],
  read_vehicle_info: ['vehicleidentification'],
  read_vin: ['vehicleidentification'],
};

/** Smartcar's prefix for a mandatory permission (`required:read_odometer`). */
const REQUIRED_PREFIX = 'required:';

/** `tractionbattery-stateofcharge` → `tractionbattery`; a code without a dash is its own group. */
export function signalGroupOf(code: string): string {
  const dash = code.indexOf('-');
  return (dash < 0 ? code : code.slice(0, dash)).toLowerCase();
}

/**
 * The groups `permissions` cover; undefined (= every signal counts) for a vehicle without a grant and for a
 * grant whose permissions are unknown (Connect used the Dashboard's, so none were recorded).
 */
export function usedSignalGroups(
  permissions: readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  if (permissions === undefined || permissions.length === 0) return undefined;
  const groups = new Set<string>();
  for (const permission of permissions) {
    const name = permission.startsWith(REQUIRED_PREFIX)
      ? permission.slice(REQUIRED_PREFIX.length)
      : permission;
    for (const group of PERMISSION_SIGNAL_GROUPS[name] ?? []) groups.add(group);
  }
  return groups;
}

/** `USED_SIGNAL_GROUPS` (comma list, any case) → the set; empty → undefined (the per-grant default). */
export function parseSignalGroups(value: string | undefined): ReadonlySet<string> | undefined {
  const groups = (value ?? '')
    .split(',')
    .map((group) => group.trim().toLowerCase())
    .filter((group) => group !== '');
  return groups.length === 0 ? undefined : new Set(groups);
}
