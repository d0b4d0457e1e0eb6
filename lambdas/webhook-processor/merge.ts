import { createHash } from 'node:crypto';
import type { ErrorState, ProfileState, SignalState, VehicleState } from '../vehicles/vehicle-state.js';
import { compareTimes, errorReportWins } from './order.js';
import type {
  ProfileWrite,
  SignalErrorWrite,
  SignalValueWrite,
  VehicleErrorWrite,
  WriteIntent,
  WriteKind,
} from './plan.js';

/**
 * Pure newest-wins merge of planned changes into a vehicle's state (docs/design.md, "Ordering rules"). The
 * processor reads the state item, merges every change of a batch for that vehicle, and writes the item back
 * under an optimistic version condition; on a conflict it re-reads and merges again, so the rules below decide
 * exactly as a conditional write per signal did, without one request per signal.
 */

export type ChangeOutcome = 'written' | 'stale';

export type ApplySummary = Record<WriteKind, { written: number; stale: number }>;

export function emptySummary(): ApplySummary {
  return {
    profile: { written: 0, stale: 0 },
    'signal-value': { written: 0, stale: 0 },
    'signal-error': { written: 0, stale: 0 },
    'vehicle-error': { written: 0, stale: 0 },
    'raw-event': { written: 0, stale: 0 },
  };
}

/**
 * How long an applied event is remembered in its vehicle's state item. A Smartcar retry carries the same event
 * with a new `deliveredAt` up to ~4 minutes after the first attempt (order.ts SMARTCAR_RETRY_SPAN_MS); without
 * this memory a retry of an event whose signal is ordered by delivery time alone could overwrite a newer value.
 * Any other repeat (an SQS redelivery, a DLQ redrive) repeats the same times and is a no-op by the order rules.
 */
export const RECENT_EVENT_WINDOW_MS = 15 * 60_000;

/** 64 bits of SHA-256 of the dedupe key: small in the item, and collisions are negligible at this window. */
export function recentEventId(dedupeKey: string): string {
  return createHash('sha256').update(dedupeKey, 'utf8').digest('hex').slice(0, 16);
}

/** One event's planned changes. */
export interface EventChanges {
  /** recentEventId of the event's dedupe key. */
  readonly id: string;
  /** SQS SentTimestamp (ms) of its message. */
  readonly receivedAt: number;
  readonly changes: readonly WriteIntent[];
}

export interface MergeResult {
  readonly state: VehicleState;
  /** Whether the state item must be written. */
  readonly changed: boolean;
  /** The newest profile change when it differs from what the PROFILE item was last given. */
  readonly profileWrite?: ProfileWrite;
  /** One summary per event, in input order. */
  readonly summaries: ApplySummary[];
  /** Per event, in input order: whether it was applied lately already (nothing of it was merged). */
  readonly duplicates: boolean[];
}

type VehicleChange = Exclude<WriteIntent, { kind: 'raw-event' }>;

const PROFILE_FIELDS = ['smartcarUserId', 'make', 'model', 'year'] as const;

function sameProfileFields(a: ProfileState | undefined, b: ProfileState): boolean {
  return a !== undefined && PROFILE_FIELDS.every((field) => a[field] === b[field]);
}

class Merger {
  signals: Record<string, SignalState>;
  errors: Record<string, ErrorState>;
  recent: Record<string, number>;
  profile: ProfileState | undefined;
  updatedAt: number | undefined;
  changed = false;
  profileWrite: ProfileWrite | undefined;

  constructor(readonly base: VehicleState) {
    this.signals = { ...base.signals };
    this.errors = { ...base.errors };
    this.recent = { ...base.recent };
    this.profile = base.profile;
    this.updatedAt = base.updatedAt;
  }

  touch(at: number): 'written' {
    this.changed = true;
    this.updatedAt = Math.max(this.updatedAt ?? at, at);
    return 'written';
  }

  apply(change: VehicleChange): ChangeOutcome {
    switch (change.kind) {
      case 'profile':
        return this.profileChange(change);
      case 'signal-value':
        return this.signalValue(change);
      case 'signal-error':
        return this.signalError(change);
      case 'vehicle-error':
        return this.vehicleError(change);
    }
  }

  /** Newer event wins; fields an event does not carry keep their value. Webhooks never set `status`. */
  profileChange(change: ProfileWrite): ChangeOutcome {
    if (this.profile !== undefined && !(change.at > this.profile.at)) return 'stale';
    const next: ProfileState = {
      ...this.profile,
      at: change.at,
      ...(change.smartcarUserId !== undefined && { smartcarUserId: change.smartcarUserId }),
      ...(change.make !== undefined && { make: change.make }),
      ...(change.model !== undefined && { model: change.model }),
      ...(change.year !== undefined && { year: change.year }),
    };
    // The PROFILE item (shared with Connect, indexed by app user) is rewritten only when its fields change,
    // and then with everything merged so far (a later event may lack a field an earlier one carried).
    this.profileWrite = sameProfileFields(this.base.profile, next)
      ? undefined
      : {
          kind: 'profile',
          pk: change.pk,
          vehicleId: change.vehicleId,
          ...Object.fromEntries(PROFILE_FIELDS.flatMap((f) => (next[f] === undefined ? [] : [[f, next[f]]]))),
          at: next.at,
        };
    this.profile = next;
    return this.touch(change.at);
  }

  /** Newer by `compareTimes` wins; a value without any time only fills a signal that has no value yet. */
  signalValue(change: SignalValueWrite): ChangeOutcome {
    const current = this.signals[change.code];
    if (current?.body !== undefined && compareTimes(change.times, current) <= 0) return 'stale';
    this.signals[change.code] = {
      ...(change.name !== undefined && { name: change.name }),
      ...(change.group !== undefined && { group: change.group }),
      body: change.body,
      status: change.status,
      ...change.times,
      ...(change.eventId !== undefined && { eventId: change.eventId }),
      updatedAt: change.at,
    };
    return this.touch(change.at);
  }

  /**
   * A failed read is recorded next to the last good value when it is newer than the last recorded failure and
   * than that value's own delivery (delivery times compared with delivery times; retrievedAt, on Smartcar's
   * clock too, when the value's event had none).
   */
  signalError(change: SignalErrorWrite): ChangeOutcome {
    const current = this.signals[change.code];
    if (current?.errorAt !== undefined && current.errorAt >= change.at) return 'stale';
    const valueRead = current?.deliveredAt ?? current?.retrievedAt;
    if (valueRead !== undefined && valueRead >= change.at) return 'stale';
    this.signals[change.code] = {
      ...current,
      ...(change.name !== undefined && { name: change.name }),
      ...(change.group !== undefined && { group: change.group }),
      status: change.status,
      error: change.error,
      errorAt: change.at,
      updatedAt: change.at,
    };
    return this.touch(change.at);
  }

  vehicleError(change: VehicleErrorWrite): ChangeOutcome {
    if (!errorReportWins(change, this.errors[change.key])) return 'stale';
    this.errors[change.key] = {
      type: change.type,
      code: change.code,
      ...(change.description !== undefined && { description: change.description }),
      resolution: change.resolution,
      signals: change.signals,
      state: change.state,
      at: change.at,
      ...(change.expiresAt !== undefined && { expiresAt: change.expiresAt }),
    };
    return this.touch(change.at);
  }

  /** Expired memory is dropped when the item is written anyway. */
  prune(now: number): void {
    for (const [id, receivedAt] of Object.entries(this.recent)) {
      if (receivedAt < now - RECENT_EVENT_WINDOW_MS) delete this.recent[id];
    }
    for (const [key, error] of Object.entries(this.errors)) {
      if (error.state === 'RESOLVED' && error.expiresAt !== undefined && error.expiresAt * 1000 <= now) {
        delete this.errors[key];
      }
    }
  }
}

/**
 * Merges each event's changes, in order, into `state`; an event applied lately is skipped whole. `now` (the
 * batch's latest SQS time) only prunes expired memory. Raw events are not part of the state item.
 */
export function mergeChanges(state: VehicleState, events: readonly EventChanges[], now: number): MergeResult {
  const merger = new Merger(state);
  const duplicates: boolean[] = [];
  const summaries = events.map((event) => {
    const summary = emptySummary();
    const duplicate = merger.recent[event.id] !== undefined;
    duplicates.push(duplicate);
    if (duplicate) return summary;
    const changedBefore = merger.changed;
    merger.changed = false;
    for (const change of event.changes) {
      if (change.kind === 'raw-event') throw new Error('raw events are not part of the vehicle state');
      summary[change.kind][merger.apply(change)] += 1;
    }
    // Remembered only when it changed something: an event that changed nothing is not written for its id.
    if (merger.changed) merger.recent[event.id] = event.receivedAt;
    merger.changed ||= changedBefore;
    return summary;
  });
  if (merger.changed) merger.prune(now);
  return {
    state: {
      version: state.version,
      ...(merger.updatedAt !== undefined && { updatedAt: merger.updatedAt }),
      ...(merger.profile !== undefined && { profile: merger.profile }),
      signals: merger.signals,
      errors: merger.errors,
      recent: merger.recent,
    },
    changed: merger.changed,
    ...(merger.profileWrite !== undefined && { profileWrite: merger.profileWrite }),
    summaries,
    duplicates,
  };
}
