/**
 * Keys of the vehicle state table (docs/design.md, "Vehicle state table").
 * The processor writes with these and the read Lambda queries with them, so they live in one place.
 */

/** `live` is Smartcar's LIVE mode; `test` holds TEST-mode events (TEST_EVENTS=separate) and `?mode=test` reads. */
export type VehicleMode = 'live' | 'test';

/** GSI of the vehicle table (contracts/tables.ts): partition key `appUserId`, sort key `vehicleId`, projection ALL. */
export { BY_APP_USER_INDEX } from '../../contracts/index.js';

export const PROFILE_SK = 'PROFILE';
export const SIGNAL_SK_PREFIX = 'SIGNAL#';
export const ERROR_SK_PREFIX = 'ERROR#';
export const EVENT_SK_PREFIX = 'EVENT#';
/** Stands in for a `null` error code in the error item's sort key. */
export const NO_ERROR_CODE = 'NONE';

/**
 * A vehicle id we accept in a key: Smartcar ids are UUIDs (simulated ones carry a prefix), so letters, digits and
 * a few separators. `#` is the key separator and is therefore never allowed; the length bound keeps keys small.
 */
const VEHICLE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isValidVehicleId(vehicleId: string): boolean {
  return VEHICLE_ID.test(vehicleId);
}

function assertVehicleId(vehicleId: string): void {
  if (!isValidVehicleId(vehicleId)) throw new Error('vehicle id is not usable in a key');
}

/** `VEHICLE#<id>` for LIVE data, `TEST#VEHICLE#<id>` for TEST-mode data. */
export function vehiclePk(vehicleId: string, mode: VehicleMode = 'live'): string {
  assertVehicleId(vehicleId);
  return mode === 'test' ? `TEST#VEHICLE#${vehicleId}` : `VEHICLE#${vehicleId}`;
}

/** `SIGNAL#<code>`, e.g. `SIGNAL#tractionbattery-stateofcharge`. */
export function signalSk(code: string): string {
  return `${SIGNAL_SK_PREFIX}${code}`;
}

/** `ERROR#<type>#<code or NONE>`: one item per (type, code), so a RESOLVED event finds its ERROR. */
export function errorSk(type: string, code: string | null | undefined): string {
  return `${ERROR_SK_PREFIX}${type}#${code ?? NO_ERROR_CODE}`;
}

/** `EVENT#<receivedAt ms>#<eventId>`: raw v2 / unknown-type events, newest last. */
export function rawEventSk(receivedAt: number, eventId: string): string {
  return `${EVENT_SK_PREFIX}${receivedAt}#${eventId}`;
}

/**
 * The sort-key range that holds the PROFILE and every SIGNAL# item and nothing else: `SIGNAL$` is the first
 * string after every `SIGNAL#…` (`$` follows `#` in ASCII), so a BETWEEN on these bounds skips ERROR# and EVENT#.
 */
export const STATE_SK_RANGE = { from: PROFILE_SK, to: 'SIGNAL$' } as const;
