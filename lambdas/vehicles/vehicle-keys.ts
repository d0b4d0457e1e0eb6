/**
 * Keys of the vehicle state table (docs/design.md, "Vehicle state table").
 * The processor writes with these and the read Lambda queries with them, so they live in one place.
 */

/** `live` is Smartcar's LIVE mode; `test` holds TEST-mode events (TEST_EVENTS=separate) and `?mode=test` reads. */
export type VehicleMode = 'live' | 'test';

/** GSI of the vehicle table (contracts/tables.ts): partition key `appUserId`, sort key `vehicleId`, projection ALL. */
export { BY_APP_USER_INDEX } from '../../contracts/index.js';

export const PROFILE_SK = 'PROFILE';
/** The one item holding a vehicle's signals and errors (lambdas/vehicles/vehicle-state.ts). */
export const STATE_SK = 'STATE';
/** Per-signal items of the earlier layout; still read (they sort between PROFILE and STATE), never written. */
export const SIGNAL_SK_PREFIX = 'SIGNAL#';
/** Per-error items of the earlier layout; no longer written or read. */
export const ERROR_SK_PREFIX = 'ERROR#';
export const EVENT_SK_PREFIX = 'EVENT#';
/** One item per (vehicle, webhook) subscription: lambdas/subscriptions/. */
export const SUBSCRIPTION_SK_PREFIX = 'SUBSCRIPTION#';
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

/** `<type>#<code or NONE>`: one entry per (type, code) in the state item's `errors`, so a RESOLVED finds its ERROR. */
export function errorKey(type: string, code: string | null | undefined): string {
  return `${type}#${code ?? NO_ERROR_CODE}`;
}

/** `SUBSCRIPTION#<webhookId>`. */
export function subscriptionSk(webhookId: string): string {
  return `${SUBSCRIPTION_SK_PREFIX}${webhookId}`;
}

/** A Smartcar webhook id we accept in a key and a path: the same alphabet as vehicle ids. */
export function isValidWebhookId(webhookId: string): boolean {
  return VEHICLE_ID.test(webhookId);
}

/**
 * `EVENT#<eventType>#<eventId>`: raw v2 / unknown-type events, one item per event, so a repeated delivery (an
 * SQS redelivery or a Smartcar retry: same event id, or the same bytes when there is none) is stored once.
 */
export function rawEventSk(eventType: string, eventId: string): string {
  return `${EVENT_SK_PREFIX}${eventType}#${eventId}`;
}

/**
 * The sort-key range that holds the PROFILE, the STATE item (and the earlier layout's SIGNAL# items) and every
 * SUBSCRIPTION# item and nothing else (`PROFILE` < `SIGNAL#…` < `STATE` < `SUBSCRIPTION#…`; `SUBSCRIPTION$` is the
 * first string after every `SUBSCRIPTION#…`, `$` following `#` in ASCII): one Query on these bounds reads a vehicle
 * and skips the ERROR# and EVENT# ranges (which sort before PROFILE).
 */
export const STATE_SK_RANGE = { from: PROFILE_SK, to: 'SUBSCRIPTION$' } as const;

/** Poison messages: the quarantine's key space (contracts/tables.ts). */
export { QUARANTINE_PARTITION as QUARANTINE_PK } from '../../contracts/index.js';

/** `<SQS SentTimestamp ms>#<SQS message id>`: by time, and one item per message however often it is redelivered. */
export function quarantineSk(receivedAt: number, messageId: string): string {
  return `${receivedAt}#${messageId}`;
}
