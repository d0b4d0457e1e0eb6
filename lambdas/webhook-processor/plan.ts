import {
  errorSk,
  PROFILE_SK,
  rawEventSk,
  signalSk,
  vehiclePk,
  type VehicleMode,
} from '../vehicles/vehicle-keys.js';
import type {
  NormalizedEvent,
  NormalizedSignal,
  RawEvent,
  SignalErrorDetail,
  SignalFailure,
  SignalValue,
  VehicleErrorEvent,
  VehicleRef,
  VehicleStateEvent,
} from './event.js';

/**
 * Pure planning: a normalized event becomes the list of conditional writes that apply it (docs/design.md,
 * "Vehicle state table" and "Ordering rules"). No I/O and no clock here: every time comes from the event or
 * from `receivedAt`, so the same message always yields the same plan and a retry repeats the same writes.
 */

export interface PlanOptions {
  /** When the receiver queued the message (SQS SentTimestamp, ms): stable across SQS retries of the message. */
  readonly receivedAt: number;
  readonly testEvents: 'separate' | 'skip';
  readonly rawEventTtlDays: number;
  /** How long a RESOLVED tombstone is kept: as long as an older ERROR for it can still arrive (DLQ redrive). */
  readonly resolvedErrorTtlSeconds: number;
}

interface Keyed {
  readonly pk: string;
  readonly sk: string;
}

/** Upsert of the vehicle profile; skipped when the profile already reflects a later event. */
export interface ProfileWrite extends Keyed {
  readonly kind: 'profile';
  readonly vehicleId: string;
  readonly smartcarUserId?: string;
  readonly make?: string;
  readonly model?: string;
  readonly year?: number;
  /** Event time (deliveredAt, else receivedAt): becomes `updatedAt` and orders profile writes. */
  readonly at: number;
}

/** A new signal value; written only if newer than the stored one by `orderKey`. */
export interface SignalValueWrite extends Keyed {
  readonly kind: 'signal-value';
  readonly code: string;
  readonly name?: string;
  readonly group?: string;
  readonly body: unknown;
  readonly status: Record<string, unknown>;
  readonly oemUpdatedAt?: number;
  readonly retrievedAt?: number;
  /** oemUpdatedAt, else retrievedAt/fetchedAt, else the event's deliveredAt; absent = write only if no value yet. */
  readonly orderKey?: number;
  readonly eventId?: string;
  readonly at: number;
}

/** A failed read of a signal: records the error next to (never instead of) the last good value. */
export interface SignalErrorWrite extends Keyed {
  readonly kind: 'signal-error';
  readonly code: string;
  readonly name?: string;
  readonly group?: string;
  readonly status: Record<string, unknown>;
  readonly error: SignalErrorDetail;
  /** deliveredAt, else receivedAt: becomes `errorAt`. */
  readonly at: number;
}

/** An active error or its RESOLVED tombstone, one item per (type, code). */
export interface VehicleErrorWrite extends Keyed {
  readonly kind: 'vehicle-error';
  readonly type: string;
  readonly code: string | null;
  readonly description?: string;
  readonly resolution: Record<string, unknown> | null;
  readonly signals: string[];
  readonly state: 'ERROR' | 'RESOLVED';
  readonly at: number;
  /** Only for RESOLVED: epoch seconds when DynamoDB may delete the tombstone. */
  readonly expiresAt?: number;
}

/** A v2 / unknown-type event kept as received, with a TTL. */
export interface RawEventWrite extends Keyed {
  readonly kind: 'raw-event';
  readonly eventType: string;
  readonly eventId: string;
  readonly raw: string;
  readonly receivedAt: number;
  readonly expiresAt: number;
}

export type WriteIntent =
  ProfileWrite | SignalValueWrite | SignalErrorWrite | VehicleErrorWrite | RawEventWrite;
export type WriteKind = WriteIntent['kind'];

export type Plan =
  | { readonly action: 'ignore'; readonly reason: 'verify' }
  | { readonly action: 'skip-test' }
  | { readonly action: 'apply'; readonly intents: WriteIntent[] };

const SECONDS_PER_DAY = 86_400;

function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function eventTime(event: { deliveredAt?: number }, options: PlanOptions): number {
  return event.deliveredAt ?? options.receivedAt;
}

function profileWrite(pk: string, vehicle: VehicleRef, at: number): ProfileWrite {
  return {
    kind: 'profile',
    pk,
    sk: PROFILE_SK,
    vehicleId: vehicle.id,
    ...(vehicle.userId !== undefined && { smartcarUserId: vehicle.userId }),
    ...(vehicle.make !== undefined && { make: vehicle.make }),
    ...(vehicle.model !== undefined && { model: vehicle.model }),
    ...(vehicle.year !== undefined && { year: vehicle.year }),
    at,
  };
}

function orderKeyOf(signal: SignalValue, deliveredAt: number | undefined): number | undefined {
  return signal.oemUpdatedAt ?? signal.retrievedAt ?? deliveredAt;
}

function identity(signal: NormalizedSignal) {
  return {
    code: signal.code,
    ...(signal.name !== undefined && { name: signal.name }),
    ...(signal.group !== undefined && { group: signal.group }),
  };
}

function signalValueWrite(
  pk: string,
  signal: SignalValue,
  event: VehicleStateEvent,
  at: number,
): SignalValueWrite {
  const orderKey = orderKeyOf(signal, event.deliveredAt);
  return {
    kind: 'signal-value',
    pk,
    sk: signalSk(signal.code),
    ...identity(signal),
    body: signal.body,
    // Captures omit `status` on good values; store the implied SUCCESS so a reader need not guess.
    status: signal.status ?? { value: 'SUCCESS' },
    ...(signal.oemUpdatedAt !== undefined && { oemUpdatedAt: signal.oemUpdatedAt }),
    ...(signal.retrievedAt !== undefined && { retrievedAt: signal.retrievedAt }),
    ...(orderKey !== undefined && { orderKey }),
    ...(event.eventId !== undefined && { eventId: event.eventId }),
    at,
  };
}

function signalErrorWrite(pk: string, signal: SignalFailure, at: number): SignalErrorWrite {
  return {
    kind: 'signal-error',
    pk,
    sk: signalSk(signal.code),
    ...identity(signal),
    status: signal.status,
    error: signal.error,
    at,
  };
}

/**
 * One signal per code: two writes to one item in one event would race each other. The newest value wins;
 * an error only stands in when the event has no value for that code.
 */
function onePerCode(signals: NormalizedSignal[], deliveredAt: number | undefined): NormalizedSignal[] {
  const byCode = new Map<string, NormalizedSignal>();
  for (const signal of signals) {
    const current = byCode.get(signal.code);
    if (current === undefined || preferred(signal, current, deliveredAt)) byCode.set(signal.code, signal);
  }
  return [...byCode.values()];
}

function preferred(
  candidate: NormalizedSignal,
  current: NormalizedSignal,
  deliveredAt: number | undefined,
): boolean {
  if (candidate.kind !== current.kind) return candidate.kind === 'value';
  if (candidate.kind === 'error' || current.kind === 'error') return true;
  return (orderKeyOf(candidate, deliveredAt) ?? -1) >= (orderKeyOf(current, deliveredAt) ?? -1);
}

function planVehicleState(event: VehicleStateEvent, pk: string, options: PlanOptions): WriteIntent[] {
  const at = eventTime(event, options);
  const signals = onePerCode(event.signals, event.deliveredAt).map((signal) =>
    signal.kind === 'value' ? signalValueWrite(pk, signal, event, at) : signalErrorWrite(pk, signal, at),
  );
  return [profileWrite(pk, event.vehicle, at), ...signals];
}

function planVehicleError(event: VehicleErrorEvent, pk: string, options: PlanOptions): WriteIntent[] {
  const at = eventTime(event, options);
  const bySk = new Map<string, VehicleErrorWrite>();
  for (const error of event.errors) {
    const sk = errorSk(error.type, error.code);
    bySk.set(sk, {
      kind: 'vehicle-error',
      pk,
      sk,
      type: error.type,
      code: error.code,
      ...(error.description !== undefined && { description: error.description }),
      resolution: error.resolution,
      signals: error.signals,
      state: error.state,
      at,
      ...(error.state === 'RESOLVED' && { expiresAt: epochSeconds(at) + options.resolvedErrorTtlSeconds }),
    });
  }
  return [profileWrite(pk, event.vehicle, at), ...bySk.values()];
}

function planRaw(event: RawEvent, mode: VehicleMode, options: PlanOptions): WriteIntent[] {
  // Without an event id the body hash identifies the event, so a repeat lands on the same item.
  const eventId = event.eventId ?? event.dedupeKey.replace(/^sha256:/, '');
  const expiresAt = epochSeconds(options.receivedAt) + options.rawEventTtlDays * SECONDS_PER_DAY;
  return event.vehicleIds.map((vehicleId) => ({
    kind: 'raw-event',
    pk: vehiclePk(vehicleId, mode),
    sk: rawEventSk(options.receivedAt, eventId),
    eventType: event.eventType,
    eventId,
    raw: event.raw,
    receivedAt: options.receivedAt,
    expiresAt,
  }));
}

/** What to do with one event: ignore it (VERIFY), drop it (TEST with TEST_EVENTS=skip), or apply these writes. */
export function planEvent(event: NormalizedEvent, options: PlanOptions): Plan {
  if (event.kind === 'verify') return { action: 'ignore', reason: 'verify' };
  if (event.mode === 'test' && options.testEvents === 'skip') return { action: 'skip-test' };
  switch (event.kind) {
    case 'vehicle-state':
      return {
        action: 'apply',
        intents: planVehicleState(event, vehiclePk(event.vehicle.id, event.mode), options),
      };
    case 'vehicle-error':
      return {
        action: 'apply',
        intents: planVehicleError(event, vehiclePk(event.vehicle.id, event.mode), options),
      };
    case 'raw':
      return { action: 'apply', intents: planRaw(event, event.mode, options) };
  }
}
