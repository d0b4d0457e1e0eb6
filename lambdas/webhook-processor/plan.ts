import { errorKey, rawEventSk, vehiclePk, type VehicleMode } from '../vehicles/vehicle-keys.js';
import type { ErrorState } from '../vehicles/vehicle-state.js';
import {
  UnprocessableEventError,
  type NormalizedEvent,
  type NormalizedSignal,
  type RawEvent,
  type SignalErrorDetail,
  type SignalFailure,
  type SignalValue,
  type VehicleErrorEvent,
  type VehicleRef,
  type VehicleStateEvent,
} from './event.js';
import { compareTimes, saneTime, type OrderTimes } from './order.js';

/**
 * Pure planning: a normalized event becomes the list of changes that apply it (docs/design.md, "Vehicle state
 * table" and "Ordering rules"); merge.ts applies them newest-wins to the vehicle's state. No I/O and no clock
 * here: every time comes from the event or from `receivedAt` (which also stands in for "now" when a timestamp is
 * checked for sanity), so the same message always yields the same plan and a retry repeats the same changes.
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
  /** The vehicle partition the change belongs to. */
  readonly pk: string;
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

/** A new signal value; applied only if newer than the stored one (order.ts `compareTimes`). */
export interface SignalValueWrite extends Keyed {
  readonly kind: 'signal-value';
  readonly code: string;
  readonly name?: string;
  readonly group?: string;
  readonly body: unknown;
  readonly status: Record<string, unknown>;
  /** The value's sane times; none at all = applied only where the signal has no value yet. */
  readonly times: OrderTimes;
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

/** An active error or its RESOLVED tombstone, one entry per (type, code). */
export interface VehicleErrorWrite extends Keyed, ErrorState {
  readonly kind: 'vehicle-error';
  /** `<type>#<code or NONE>` */
  readonly key: string;
}

/** A v2 / unknown-type event kept as received, with a TTL, in an item of its own. */
export interface RawEventWrite extends Keyed {
  readonly kind: 'raw-event';
  readonly sk: string;
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
  | {
      readonly action: 'apply';
      readonly intents: WriteIntent[];
      /** Timestamps outside the sane window (order.ts `saneTime`), treated as missing. */
      readonly insaneTimestamps: number;
    };

const SECONDS_PER_DAY = 86_400;

/**
 * Most vehicles one v2 event may be stored under: each is a write of the whole body. A body naming more is
 * quarantined rather than written hundreds of times on every retry.
 */
export const MAX_RAW_FANOUT = 25;

/** Counts the timestamps that planning had to discard as insane. */
class SanityCounter {
  insane = 0;
  constructor(readonly now: number) {}
  check(time: number | undefined): number | undefined {
    const sane = saneTime(time, this.now);
    if (time !== undefined && sane === undefined) this.insane += 1;
    return sane;
  }
}

function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function profileWrite(pk: string, vehicle: VehicleRef, at: number): ProfileWrite {
  return {
    kind: 'profile',
    pk,
    vehicleId: vehicle.id,
    ...(vehicle.userId !== undefined && { smartcarUserId: vehicle.userId }),
    ...(vehicle.make !== undefined && { make: vehicle.make }),
    ...(vehicle.model !== undefined && { model: vehicle.model }),
    ...(vehicle.year !== undefined && { year: vehicle.year }),
    at,
  };
}

function timesOf(signal: SignalValue, deliveredAt: number | undefined, sanity: SanityCounter): OrderTimes {
  const oemUpdatedAt = sanity.check(signal.oemUpdatedAt);
  const retrievedAt = sanity.check(signal.retrievedAt);
  return {
    ...(oemUpdatedAt !== undefined && { oemUpdatedAt }),
    ...(retrievedAt !== undefined && { retrievedAt }),
    ...(deliveredAt !== undefined && { deliveredAt }),
  };
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
  times: OrderTimes,
  event: VehicleStateEvent,
  at: number,
): SignalValueWrite {
  return {
    kind: 'signal-value',
    pk,
    ...identity(signal),
    body: signal.body,
    // Captures omit `status` on good values; store the implied SUCCESS so a reader need not guess.
    status: signal.status ?? { value: 'SUCCESS' },
    times,
    ...(event.eventId !== undefined && { eventId: event.eventId }),
    at,
  };
}

function signalErrorWrite(pk: string, signal: SignalFailure, at: number): SignalErrorWrite {
  return {
    kind: 'signal-error',
    pk,
    ...identity(signal),
    status: signal.status,
    error: signal.error,
    at,
  };
}

/**
 * One change per code: the newest value wins; an error only stands in when the event has no value for that
 * code (an event is one read of the vehicle, so its values and errors never describe different moments).
 */
function onePerCode(
  pk: string,
  event: VehicleStateEvent,
  deliveredAt: number | undefined,
  at: number,
  sanity: SanityCounter,
): (SignalValueWrite | SignalErrorWrite)[] {
  const byCode = new Map<string, SignalValueWrite | SignalErrorWrite>();
  for (const signal of event.signals) {
    const change = changeOf(pk, signal, event, deliveredAt, at, sanity);
    const current = byCode.get(signal.code);
    if (current === undefined || preferred(change, current)) byCode.set(signal.code, change);
  }
  return [...byCode.values()];
}

function changeOf(
  pk: string,
  signal: NormalizedSignal,
  event: VehicleStateEvent,
  deliveredAt: number | undefined,
  at: number,
  sanity: SanityCounter,
): SignalValueWrite | SignalErrorWrite {
  return signal.kind === 'value'
    ? signalValueWrite(pk, signal, timesOf(signal, deliveredAt, sanity), event, at)
    : signalErrorWrite(pk, signal, at);
}

function preferred(
  candidate: SignalValueWrite | SignalErrorWrite,
  current: SignalValueWrite | SignalErrorWrite,
): boolean {
  if (candidate.kind !== current.kind) return candidate.kind === 'signal-value';
  if (candidate.kind === 'signal-error' || current.kind === 'signal-error') return true;
  return compareTimes(candidate.times, current.times) >= 0;
}

function planVehicleState(
  event: VehicleStateEvent,
  pk: string,
  options: PlanOptions,
  sanity: SanityCounter,
): WriteIntent[] {
  const deliveredAt = sanity.check(event.deliveredAt);
  const at = deliveredAt ?? options.receivedAt;
  return [profileWrite(pk, event.vehicle, at), ...onePerCode(pk, event, deliveredAt, at, sanity)];
}

function planVehicleError(
  event: VehicleErrorEvent,
  pk: string,
  options: PlanOptions,
  sanity: SanityCounter,
): WriteIntent[] {
  const at = sanity.check(event.deliveredAt) ?? options.receivedAt;
  const byKey = new Map<string, VehicleErrorWrite>();
  for (const error of event.errors) {
    const key = errorKey(error.type, error.code);
    byKey.set(key, {
      kind: 'vehicle-error',
      pk,
      key,
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
  return [profileWrite(pk, event.vehicle, at), ...byKey.values()];
}

function planRaw(event: RawEvent, mode: VehicleMode, options: PlanOptions): WriteIntent[] {
  if (event.vehicleIds.length > MAX_RAW_FANOUT) {
    throw new UnprocessableEventError('event names more vehicles than the fan-out cap', {
      format: event.format,
      eventType: event.eventType,
      eventId: event.eventId,
      vehicles: String(event.vehicleIds.length),
    });
  }
  // Without an event id the body hash identifies the event, so a repeat lands on the same item.
  const eventId = event.eventId ?? event.dedupeKey.replace(/^sha256:/, '');
  const expiresAt = epochSeconds(options.receivedAt) + options.rawEventTtlDays * SECONDS_PER_DAY;
  return event.vehicleIds.map((vehicleId) => ({
    kind: 'raw-event',
    pk: vehiclePk(vehicleId, mode),
    sk: rawEventSk(event.eventType, eventId),
    eventType: event.eventType,
    eventId,
    raw: event.raw,
    receivedAt: options.receivedAt,
    expiresAt,
  }));
}

function intentsOf(
  event: Exclude<NormalizedEvent, { kind: 'verify' }>,
  options: PlanOptions,
  sanity: SanityCounter,
) {
  switch (event.kind) {
    case 'vehicle-state':
      return planVehicleState(event, vehiclePk(event.vehicle.id, event.mode), options, sanity);
    case 'vehicle-error':
      return planVehicleError(event, vehiclePk(event.vehicle.id, event.mode), options, sanity);
    case 'raw':
      return planRaw(event, event.mode, options);
  }
}

/**
 * What to do with one event: ignore it (VERIFY), drop it (TEST with TEST_EVENTS=skip), or apply these changes.
 * Throws UnprocessableEventError for an event that can never be stored (a v2 body over the fan-out cap).
 */
export function planEvent(event: NormalizedEvent, options: PlanOptions): Plan {
  if (event.kind === 'verify') return { action: 'ignore', reason: 'verify' };
  if (event.mode === 'test' && options.testEvents === 'skip') return { action: 'skip-test' };
  const sanity = new SanityCounter(options.receivedAt);
  const intents = intentsOf(event, options, sanity);
  return { action: 'apply', intents, insaneTimestamps: sanity.insane };
}
