import type { VehicleMode } from '../vehicles/vehicle-keys.js';

/**
 * The normalized webhook event: what parse.ts makes of a body, whatever its envelope (v2, v4, captures or docs
 * style), and what plan.ts turns into writes.
 */

/** The body is valid input for SQS but not something we can store; it must end in the DLQ for an operator. */
export class UnprocessableEventError extends Error {
  /** Safe to log: our own reason and identifiers, never signal values. */
  readonly details: Readonly<Record<string, string | undefined>>;

  constructor(reason: string, details: Record<string, string | undefined> = {}) {
    super(reason);
    this.name = 'UnprocessableEventError';
    this.details = details;
  }
}

export interface VehicleRef {
  readonly id: string;
  readonly userId?: string;
  readonly make?: string;
  readonly model?: string;
  readonly year?: number;
}

/** A signal with a value (status absent or anything but ERROR). */
export interface SignalValue {
  readonly kind: 'value';
  readonly code: string;
  readonly name?: string;
  readonly group?: string;
  readonly body: unknown;
  readonly status?: Record<string, unknown>;
  readonly oemUpdatedAt?: number;
  /** `meta.retrievedAt` (captures) or `meta.fetchedAt` (docs). */
  readonly retrievedAt?: number;
}

export interface SignalErrorDetail {
  readonly type: string | null;
  readonly code: string | null;
}

/** A signal whose `status.value` is ERROR: Smartcar could not read it this time. */
export interface SignalFailure {
  readonly kind: 'error';
  readonly code: string;
  readonly name?: string;
  readonly group?: string;
  readonly status: Record<string, unknown>;
  readonly error: SignalErrorDetail;
}

export type NormalizedSignal = SignalValue | SignalFailure;

export interface TriggerRef {
  readonly type?: string;
  readonly code?: string;
}

export interface VehicleErrorReport {
  readonly type: string;
  readonly code: string | null;
  readonly description?: string;
  readonly resolution: Record<string, unknown> | null;
  readonly state: 'ERROR' | 'RESOLVED';
  /** Signal codes, derived from "Group.Name" strings or `{code,name,group}` objects. */
  readonly signals: string[];
}

interface EventBase {
  /** Idempotency key: `<eventType>#<eventId>`, or `sha256:<hex of the raw body>` when there is no event id. */
  readonly dedupeKey: string;
  readonly eventId?: string;
  readonly eventType: string;
  readonly mode: VehicleMode;
  /** `meta.deliveredAt` in epoch ms; changes on every Smartcar retry of the same event. */
  readonly deliveredAt?: number;
}

export interface VerifyEvent {
  readonly kind: 'verify';
  readonly eventType: string;
}

export interface VehicleStateEvent extends EventBase {
  readonly kind: 'vehicle-state';
  readonly vehicle: VehicleRef;
  readonly signals: NormalizedSignal[];
  readonly triggers: TriggerRef[];
  /** Entries of `signals` we cannot use (no code/name, or neither a body nor an error): skipped, counted. */
  readonly unreadableSignals: number;
}

export interface VehicleErrorEvent extends EventBase {
  readonly kind: 'vehicle-error';
  readonly vehicle: VehicleRef;
  readonly errors: VehicleErrorReport[];
}

/** v2 envelopes and v4 event types we do not model: stored as they came, per vehicle. */
export interface RawEvent extends EventBase {
  readonly kind: 'raw';
  readonly format: 'v2' | 'v4';
  readonly vehicleIds: string[];
  readonly raw: string;
}

export type NormalizedEvent = VerifyEvent | VehicleStateEvent | VehicleErrorEvent | RawEvent;
