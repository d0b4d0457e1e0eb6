import { randomUUID } from 'node:crypto';

/**
 * Smartcar v4 webhook envelopes built in code, shaped like the real captures (test/fixtures/webhook-captures):
 * `VEHICLE_STATE` with signals and `VEHICLE_ERROR` with errors, for one vehicle of user `user-1`. Each builder
 * writes only the fields it is given, so a test can leave out what a scenario must not have.
 */

export interface VehicleDescription {
  readonly make: string;
  readonly model: string;
  readonly year: number;
}

/** The vehicle of the captures most tests use. */
export const ID4: VehicleDescription = { make: 'VOLKSWAGEN', model: 'ID.4', year: 2021 };

export interface EnvelopeOptions {
  /** @default a random UUID */
  readonly eventId?: string;
  readonly deliveredAt: number;
  /** @default no `mode` in the envelope's meta */
  readonly mode?: string;
  /** @default no `triggers` */
  readonly triggers?: readonly Record<string, unknown>[];
  /** @default ID4 */
  readonly vehicle?: VehicleDescription;
}

function envelope(
  eventType: string,
  vehicleId: string,
  payload: Record<string, unknown>,
  options: EnvelopeOptions,
) {
  return {
    eventId: options.eventId ?? randomUUID(),
    eventType,
    data: { user: { id: 'user-1' }, vehicle: { id: vehicleId, ...(options.vehicle ?? ID4) }, ...payload },
    ...(options.triggers !== undefined && { triggers: options.triggers }),
    meta: {
      deliveredAt: options.deliveredAt,
      ...(options.mode !== undefined && { mode: options.mode }),
    },
  };
}

/** A `VEHICLE_STATE` carrying `signals`. */
export const vehicleStateEvent = (
  vehicleId: string,
  signals: readonly Record<string, unknown>[],
  options: EnvelopeOptions,
) => envelope('VEHICLE_STATE', vehicleId, { signals }, options);

/** A `VEHICLE_ERROR` carrying `errors`. */
export const vehicleErrorEvent = (
  vehicleId: string,
  errors: readonly Record<string, unknown>[],
  options: EnvelopeOptions,
) => envelope('VEHICLE_ERROR', vehicleId, { errors }, options);

export const STATE_OF_CHARGE = 'tractionbattery-stateofcharge';

/** The state-of-charge signal with the given `body`, `meta` and `status` (each left out when not given). */
export function stateOfChargeSignal(fields: {
  readonly body?: Record<string, unknown>;
  readonly meta?: Record<string, unknown>;
  readonly status?: Record<string, unknown>;
}): Record<string, unknown> {
  return { code: STATE_OF_CHARGE, name: 'StateOfCharge', group: 'TractionBattery', ...fields };
}

/**
 * The error Smartcar reports when the connected-services account's credentials stopped working (`ERROR`), and
 * again when they work again (`RESOLVED`); `extra` adds fields such as `description`.
 */
export function authenticationFailedError(
  state: 'ERROR' | 'RESOLVED',
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 'CONNECTED_SERVICES_ACCOUNT',
    code: 'AUTHENTICATION_FAILED',
    ...extra,
    resolution: { type: 'REAUTHENTICATE' },
    state,
  };
}

/** A copy of a capture (or any envelope) for another vehicle and event id. */
export function withVehicle(
  capture: Record<string, unknown>,
  vehicleId: string,
  eventId: string = randomUUID(),
) {
  const data = capture.data as { vehicle: Record<string, unknown> };
  return { ...capture, eventId, data: { ...data, vehicle: { ...data.vehicle, id: vehicleId } } };
}

export interface StateOfChargeOptions {
  readonly eventId?: string;
  readonly soc?: number;
  readonly oemUpdatedAt?: number;
  /** @default oemUpdatedAt + 200 */
  readonly deliveredAt?: number;
  readonly mode?: string;
}

/** A live `VEHICLE_STATE` with a single, successfully read state-of-charge signal, as the captures carry it. */
export function stateOfChargeEvent(vehicleId: string, options: StateOfChargeOptions = {}) {
  const oemUpdatedAt = options.oemUpdatedAt ?? 1_000_000;
  const signal = stateOfChargeSignal({
    body: { value: options.soc ?? 50, unit: 'percent' },
    meta: { oemUpdatedAt, retrievedAt: oemUpdatedAt + 100 },
    status: { value: 'SUCCESS' },
  });
  return vehicleStateEvent(vehicleId, [signal], {
    eventId: options.eventId,
    triggers: [{ type: 'SIGNAL_UPDATED', signal: 'TractionBattery.StateOfCharge' }],
    deliveredAt: options.deliveredAt ?? oemUpdatedAt + 200,
    mode: options.mode ?? 'LIVE',
  });
}
