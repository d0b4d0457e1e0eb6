/**
 * Shared between the rotations of one job run (or one container, for getAccessToken): once Smartcar answered
 * 429, no exchange is sent before `blockedUntil`, and `tripped` tells the job to start no new refreshes.
 */
export interface RateGate {
  readonly tripped: boolean;
  blockedUntil(): number;
  block(until: number): void;
}

export function createRateGate(): RateGate {
  let until = 0;
  let tripped = false;
  return {
    get tripped() {
      return tripped;
    },
    blockedUntil: () => until,
    block(next) {
      tripped = true;
      until = Math.max(until, next);
    },
  };
}
