import { UnprocessableEventError } from './event.js';
import type { WriteIntent } from './plan.js';

/**
 * Recognises, before any write, a planned change that DynamoDB (or JSON) can never store faithfully, so the
 * message is quarantined on its first attempt instead of failing the same way on every retry.
 */

/** DynamoDB allows 32 levels of nested maps and lists; the state item itself uses three of them. */
export const MAX_VALUE_DEPTH = 28;
/** Longest signal code, error type/code or event id we store (they become keys and sort-key parts). */
export const MAX_IDENTIFIER_LENGTH = 256;
/** DynamoDB numbers: 38 significant digits, magnitude from 1e-130 to below 1e126. */
const SMALLEST_NUMBER = 1e-130;
const LARGEST_NUMBER = 1e126;

type Problem = 'number outside the exactly storable range' | 'value nested too deeply';

function problemIn(value: unknown, depth: number): Problem | undefined {
  if (typeof value === 'number') {
    // JSON.parse has already rounded an integer above 2^53: storing it would store another number.
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      return 'number outside the exactly storable range';
    }
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude < SMALLEST_NUMBER || magnitude >= LARGEST_NUMBER)) {
      return 'number outside the exactly storable range';
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= MAX_VALUE_DEPTH) return 'value nested too deeply';
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    const problem = problemIn(child, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function identifiersOf(intent: WriteIntent): (string | null | undefined)[] {
  switch (intent.kind) {
    case 'profile':
      return [intent.smartcarUserId, intent.make, intent.model];
    case 'signal-value':
      return [intent.code, intent.eventId];
    case 'signal-error':
      return [intent.code];
    case 'vehicle-error':
      return [intent.type, intent.code];
    case 'raw-event':
      return [intent.eventId, intent.eventType];
  }
}

function valuesOf(intent: WriteIntent): unknown[] {
  switch (intent.kind) {
    case 'signal-value':
      return [intent.body, intent.status];
    case 'signal-error':
      return [intent.status, intent.error];
    case 'vehicle-error':
      return [intent.resolution, intent.signals];
    default:
      return [];
  }
}

/** Throws UnprocessableEventError (→ quarantine) naming what cannot be stored; never the value itself. */
export function assertStorable(intents: readonly WriteIntent[]): void {
  for (const intent of intents) {
    const tooLong = identifiersOf(intent).some(
      (identifier) => typeof identifier === 'string' && identifier.length > MAX_IDENTIFIER_LENGTH,
    );
    if (tooLong) {
      throw new UnprocessableEventError('identifier longer than the storable limit', { change: intent.kind });
    }
    for (const value of valuesOf(intent)) {
      const problem = problemIn(value, 0);
      if (problem !== undefined) throw new UnprocessableEventError(problem, { change: intent.kind });
    }
  }
}
