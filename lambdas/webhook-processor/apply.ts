import { mapWithLimit } from '../runtime/concurrency.js';
import { emptySummary, mergeChanges, type ApplySummary, type EventChanges } from './merge.js';
import type { RawEventWrite } from './plan.js';
import type { VehicleStore } from './store.js';

/**
 * Applies planned changes through the VehicleStore port (the DynamoDB adapter: store.ts): all the changes of a
 * batch for one vehicle in one read-merge-write of its state item, whatever the number of signals.
 */

export type { ApplySummary } from './merge.js';

/** Another invocation kept winning the version race; the records are retried by SQS. */
export class StateConflictError extends Error {
  constructor(readonly attempts: number) {
    super(`vehicle state kept changing under ${attempts} attempts`);
    this.name = 'StateConflictError';
  }
}

/** A lost version race is retried at once on a fresh read; a few attempts cover any realistic contention. */
export const MAX_STATE_ATTEMPTS = 8;

export interface VehicleApplyResult {
  /** One per event, in input order. */
  readonly summaries: ApplySummary[];
  /** Per event: applied lately already, skipped whole. */
  readonly duplicates: boolean[];
  /** Version races lost (and retried) on the way. */
  readonly conflicts: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Read → merge (newest wins, per signal and per error) → write if anything changed, under `version = :read`.
 * The PROFILE item is written before the state item: if that write fails, the retry's merge still sees the
 * profile as new and writes it again (the reverse order could record it as done without it being done).
 */
export async function applyToVehicle(
  store: VehicleStore,
  pk: string,
  events: readonly EventChanges[],
  now: number,
  random: () => number = Math.random,
): Promise<VehicleApplyResult> {
  for (let attempt = 1; ; attempt += 1) {
    const merged = mergeChanges(await store.load(pk), events, now);
    // 'stale' here means a concurrent writer's newer profile landed first: nothing left to do.
    if (merged.profileWrite !== undefined) await store.writeProfile(merged.profileWrite);
    if (!merged.changed || (await store.save(pk, merged.state)) === 'saved') {
      return { summaries: merged.summaries, duplicates: merged.duplicates, conflicts: attempt - 1 };
    }
    if (attempt >= MAX_STATE_ATTEMPTS) throw new StateConflictError(attempt);
    // Jittered, growing pause so two writers racing on one vehicle do not collide again in lockstep.
    await pause(random() * 10 * attempt);
  }
}

/** Bounded so a v2 event stored under many vehicles does not flood the connection pool. */
export const RAW_WRITE_CONCURRENCY = 10;

/** Raw events are items of their own, written once each (conditional put). */
export async function applyRawEvents(
  store: VehicleStore,
  intents: readonly RawEventWrite[],
): Promise<ApplySummary> {
  const outcomes = await mapWithLimit(intents, RAW_WRITE_CONCURRENCY, (intent) => store.putRawEvent(intent));
  const summary = emptySummary();
  for (const outcome of outcomes) summary['raw-event'][outcome] += 1;
  return summary;
}
