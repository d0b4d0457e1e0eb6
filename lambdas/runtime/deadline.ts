/**
 * Time limits for outbound calls. A Lambda behind API Gateway has at most ~29 s, and the `smartcar` SDK waits up
 * to 310 s per request, so every Smartcar call gets our own limit: the per-call timeout, further cut to what is
 * left of the invocation minus a reserve for storing the result and answering.
 */

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`${operation} did not finish within ${timeoutMs} ms`);
  }
}

/**
 * Settles with `promise`, or rejects with TimeoutError after `ms`. The losing promise is left to settle on its
 * own (its rejection is swallowed so it cannot surface as an unhandled rejection).
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  if (ms <= 0) {
    promise.catch(() => undefined);
    throw new TimeoutError(operation, 0);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(operation, ms)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => undefined);
  }
}

export interface Deadline {
  /** Milliseconds a call started now may take: min(per-call timeout, time left before the deadline). */
  budget(): number;
  /** Runs `call` under the budget. */
  run<T>(operation: string, call: () => Promise<T>): Promise<T>;
}

export function deadline(options: {
  readonly perCallMs: number;
  /** Epoch ms after which no new call should still be running. */
  readonly endsAt: number;
  readonly now?: () => number;
}): Deadline {
  const now = options.now ?? Date.now;
  const budget = () => Math.max(0, Math.min(options.perCallMs, options.endsAt - now()));
  return {
    budget,
    run: (operation, call) => {
      const ms = budget();
      if (ms <= 0) return Promise.reject(new TimeoutError(operation, 0));
      return withTimeout(call(), ms, operation);
    },
  };
}
