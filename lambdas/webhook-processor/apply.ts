import { mapWithLimit } from '../runtime/concurrency.js';
import type { WriteIntent, WriteKind } from './plan.js';

/**
 * Applies an event's write intents (plan.ts) through a VehicleWriter, the port of the vehicle state table (the
 * DynamoDB adapter: store.ts).
 */

export type WriteOutcome = 'written' | 'stale';

export interface VehicleWriter {
  write(intent: WriteIntent): Promise<WriteOutcome>;
}

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

/** Bounded so a 60-signal event is fast without flooding the connection pool (records also run in parallel). */
export const WRITE_CONCURRENCY = 10;

/**
 * Executes every intent, WRITE_CONCURRENCY at a time. All writes are attempted even if one fails (each is
 * conditional, so the retry of the whole event repeats the done ones harmlessly); then the first failure is
 * thrown so the message is retried.
 */
export async function applyIntents(
  writer: VehicleWriter,
  intents: readonly WriteIntent[],
  concurrency = WRITE_CONCURRENCY,
): Promise<ApplySummary> {
  const results = await mapWithLimit(intents, concurrency, async (intent) => {
    try {
      return { intent, outcome: await writer.write(intent) };
    } catch (error) {
      return { intent, error };
    }
  });
  const failure = results.find((result) => 'error' in result);
  if (failure && 'error' in failure) throw failure.error;
  const summary = emptySummary();
  for (const result of results) {
    if ('outcome' in result && result.outcome !== undefined) summary[result.intent.kind][result.outcome] += 1;
  }
  return summary;
}
