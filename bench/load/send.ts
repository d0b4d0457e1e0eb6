import { createHmac } from 'node:crypto';
import { percentile } from '../stats.js';

/** Signed POSTs of `bodies` to `url`, `concurrency` in flight, like Smartcar's deliveries. */

export interface SendResult {
  readonly statuses: number[];
  readonly latenciesMs: number[];
  readonly seconds: number;
}

export async function sendAll(
  url: string,
  bodies: readonly string[],
  managementToken: string,
  concurrency: number,
): Promise<SendResult> {
  const statuses = new Array<number>(bodies.length).fill(0);
  const latenciesMs = new Array<number>(bodies.length).fill(0);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const i = next++;
      const body = bodies[i] ?? '';
      const start = performance.now();
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'sc-signature': createHmac('sha256', managementToken).update(body).digest('hex'),
          },
          body,
        });
        await response.arrayBuffer();
        statuses[i] = response.status;
      } catch {
        statuses[i] = 0; // no answer at all
      }
      latenciesMs[i] = performance.now() - start;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, latenciesMs, seconds: (performance.now() - t0) / 1000 };
}

export function latencySummary(latenciesMs: readonly number[]) {
  return {
    p50: percentile(latenciesMs, 50),
    p95: percentile(latenciesMs, 95),
    p99: percentile(latenciesMs, 99),
  };
}
