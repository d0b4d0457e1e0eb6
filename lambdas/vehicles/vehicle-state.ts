import { gunzipSync, gzipSync } from 'node:zlib';
import { asObject } from '../runtime/json.js';

/**
 * The vehicle state item (docs/design.md, "Vehicle state table"): one item per vehicle partition (`sk = STATE`)
 * holding every signal and every vehicle error, written by the processor only, under an optimistic `version`.
 *
 * The signals are stored as gzip-compressed JSON in one binary attribute: DynamoDB bills a write by the size of
 * the whole item, and a vehicle's signals (85 in one capture, ~29 KB of JSON) compress about tenfold, so a write
 * costs a few write units instead of one per kilobyte of signals. Errors stay a plain map, so the vehicle list
 * can read the status-relevant part without decoding the signals.
 */

/** The latest value (and the latest failed read) of one signal. */
export interface SignalState {
  readonly name?: string;
  readonly group?: string;
  /** Absent while the signal never had a good value. */
  readonly body?: unknown;
  readonly status: Record<string, unknown>;
  readonly oemUpdatedAt?: number;
  readonly retrievedAt?: number;
  /** `meta.deliveredAt` of the event that carried the value: orders a later failed read against it. */
  readonly deliveredAt?: number;
  readonly eventId?: string;
  readonly error?: unknown;
  readonly errorAt?: number;
  /** Event time of the last change. */
  readonly updatedAt: number;
}

/** An active vehicle error, or its RESOLVED tombstone, per (type, code). */
export interface ErrorState {
  readonly type: string;
  readonly code: string | null;
  readonly description?: string;
  readonly resolution: Record<string, unknown> | null;
  readonly signals: string[];
  readonly state: 'ERROR' | 'RESOLVED';
  readonly at: number;
  /** RESOLVED only: epoch seconds after which the tombstone is dropped. */
  readonly expiresAt?: number;
}

/** What the webhooks said about the vehicle; ordered by `at`, mirrored to the PROFILE item when it changes. */
export interface ProfileState {
  readonly at: number;
  readonly smartcarUserId?: string;
  readonly make?: string;
  readonly model?: string;
  readonly year?: number;
}

export interface VehicleState {
  /** 0 while the item does not exist. */
  readonly version: number;
  /** Latest event time of any applied change (the read model's `updatedAt`). */
  readonly updatedAt?: number;
  readonly profile?: ProfileState;
  readonly signals: Readonly<Record<string, SignalState>>;
  readonly errors: Readonly<Record<string, ErrorState>>;
  /** Events applied lately: short hash of the dedupe key → SQS SentTimestamp (ms). */
  readonly recent: Readonly<Record<string, number>>;
}

export const EMPTY_STATE: VehicleState = { version: 0, signals: {}, errors: {}, recent: {} };

/** The item's attributes besides its key. */
export interface StateAttributes {
  readonly version: number;
  readonly updatedAt?: number;
  readonly profile?: ProfileState;
  readonly signals: Uint8Array;
  readonly errors: Record<string, ErrorState>;
  readonly recent: Record<string, number>;
}

export function encodeState(state: VehicleState): StateAttributes {
  return {
    version: state.version,
    ...(state.updatedAt !== undefined && { updatedAt: state.updatedAt }),
    ...(state.profile !== undefined && { profile: state.profile }),
    signals: gzipSync(JSON.stringify(state.signals)),
    errors: { ...state.errors },
    recent: { ...state.recent },
  };
}

/**
 * Lenient decoding of a stored item: an attribute of an unexpected type reads as empty, so a damaged item never
 * blocks the vehicle (the next event rewrites it).
 */
export function decodeState(item: Record<string, unknown> | undefined): VehicleState {
  if (item === undefined) return EMPTY_STATE;
  const version = typeof item.version === 'number' ? item.version : 0;
  let signals: Record<string, SignalState> = {};
  if (item.signals instanceof Uint8Array) {
    try {
      const decoded = asObject(JSON.parse(gunzipSync(item.signals).toString('utf8')));
      if (decoded !== undefined) signals = decoded as Record<string, SignalState>;
    } catch {
      signals = {};
    }
  }
  const errors = (asObject(item.errors) ?? {}) as Record<string, ErrorState>;
  const profile = asObject(item.profile) as ProfileState | undefined;
  const recent = Object.fromEntries(
    Object.entries(asObject(item.recent) ?? {}).filter(([, at]) => typeof at === 'number'),
  ) as Record<string, number>;
  return {
    version,
    ...(typeof item.updatedAt === 'number' && { updatedAt: item.updatedAt }),
    ...(profile !== undefined && typeof profile.at === 'number' && { profile }),
    signals,
    errors,
    recent,
  };
}
