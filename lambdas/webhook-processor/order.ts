/**
 * The order rules (docs/design.md, "Ordering rules"): which of two reports about the same thing is newer.
 * Pure; every time is epoch milliseconds.
 */

/** The times a signal value can be ordered by, best first. Absent = unknown (or outside the sane window). */
export interface OrderTimes {
  /** When the vehicle recorded the value (the vehicle's clock). */
  readonly oemUpdatedAt?: number;
  /** When Smartcar read it from the OEM (Smartcar's clock). */
  readonly retrievedAt?: number;
  /** When Smartcar delivered the event carrying it (Smartcar's clock; new on every retry). */
  readonly deliveredAt?: number;
}

const BASES = ['oemUpdatedAt', 'retrievedAt', 'deliveredAt'] as const;

function rank(times: OrderTimes): number {
  const index = BASES.findIndex((basis) => times[basis] !== undefined);
  return index < 0 ? 0 : BASES.length - index;
}

/**
 * Positive when `candidate` is newer than `stored`, else zero or negative. Like is compared with like: the
 * first basis both carry decides (an OEM time is never compared with a delivery time, which can be hours apart
 * and changes on a retry). Without a common basis, the better-timed one wins: a value ordered by OEM time is never
 * beaten by one that only has a delivery time, and anything with a time beats a value with none. Equal times are
 * not newer, so a replay is a no-op.
 */
export function compareTimes(candidate: OrderTimes, stored: OrderTimes): number {
  for (const basis of BASES) {
    const a = candidate[basis];
    const b = stored[basis];
    if (a !== undefined && b !== undefined) return Math.sign(a - b);
  }
  return rank(candidate) - rank(stored);
}

/** 2000-01-01T00:00:00Z: anything earlier is a seconds-scale or otherwise broken timestamp. */
export const EARLIEST_SANE_MS = Date.UTC(2000, 0, 1);
/** How far ahead of our own clock a timestamp may be before it counts as broken (clock skew allowance). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * `time` when it lies in the sane window, else undefined: a far-future (e.g. microsecond-scale) or pre-2000
 * timestamp would otherwise outrank every sane one forever, or never rank at all.
 */
export function saneTime(time: number | undefined, now: number): number | undefined {
  if (time === undefined) return undefined;
  return time >= EARLIEST_SANE_MS && time <= now + MAX_FUTURE_SKEW_MS ? time : undefined;
}

/**
 * How long after its first attempt Smartcar may still retry a delivery: waits of 25 + 50 + 100 s plus up to 15 s
 * of timeout per attempt (4 × 15 s), rounded up. A retry carries a new `deliveredAt` up to this much later.
 */
export const SMARTCAR_RETRY_SPAN_MS = 240_000;

/**
 * A vehicle error report (ERROR or RESOLVED for one (type, code)) replaces the stored one when it was delivered
 * later; an ERROR replaces a RESOLVED only when delivered more than the retry span after it. Within the span the
 * ERROR may be a retry of one that preceded the resolution (its `deliveredAt` is renewed on every attempt), and a
 * wrongly reopened error would stay forever (Smartcar sends no second RESOLVED), while a wrongly ignored one is
 * corrected by the next report of the error.
 */
export function errorReportWins(
  candidate: { readonly state: 'ERROR' | 'RESOLVED'; readonly at: number },
  stored: { readonly state: 'ERROR' | 'RESOLVED'; readonly at: number } | undefined,
): boolean {
  if (stored === undefined) return true;
  if (candidate.state === 'ERROR' && stored.state === 'RESOLVED') {
    return candidate.at > stored.at + SMARTCAR_RETRY_SPAN_MS;
  }
  return candidate.at > stored.at;
}
