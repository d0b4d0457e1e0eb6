import { describe, expect, it } from 'vitest';
import { mapWithLimit, settleWithConcurrency } from '../../lambdas/runtime/concurrency.js';
import { deadline, TimeoutError, withTimeout } from '../../lambdas/runtime/deadline.js';

describe('withTimeout', () => {
  it('passes results and errors through, and rejects with TimeoutError after the limit', async () => {
    expect(await withTimeout(Promise.resolve(1), 100, 'x')).toBe(1);
    await expect(withTimeout(Promise.reject(new Error('boom')), 100, 'x')).rejects.toThrow('boom');
    const error = await withTimeout(new Promise(() => undefined), 20, 'slow call').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ operation: 'slow call', timeoutMs: 20 });
    await expect(withTimeout(Promise.resolve(1), 0, 'none')).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('deadline', () => {
  it('gives each call the smaller of its own limit and the time left', async () => {
    let now = 1_000;
    const limit = deadline({ perCallMs: 500, endsAt: 1_800, now: () => now });
    expect(limit.budget()).toBe(500);
    now = 1_500;
    expect(limit.budget()).toBe(300);
    now = 1_800;
    expect(limit.budget()).toBe(0);
    let called = false;
    await expect(
      limit.run('late', () => {
        called = true;
        return Promise.resolve(1);
      }),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(called).toBe(false);
  });
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once and keeps the order', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapWithLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5 * (8 - n)));
      running -= 1;
      return n * 10;
    });
    expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });

  it('mapWithLimit stops starting work after the first failure', async () => {
    const started: number[] = [];
    await expect(
      mapWithLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
        started.push(n);
        if (n === 2) throw new Error('two');
        await new Promise((resolve) => setTimeout(resolve, 5));
        return n;
      }),
    ).rejects.toThrow('two');
    expect(started.length).toBeLessThan(6);
  });

  it('settleWithConcurrency reports every outcome', async () => {
    const settled = await settleWithConcurrency([1, 2, 3], 2, (n) =>
      n === 2 ? Promise.reject(new Error('two')) : Promise.resolve(n),
    );
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
