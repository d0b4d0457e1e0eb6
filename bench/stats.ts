/**
 * Small statistics and reporting helpers shared by the bench, load and drill commands. Machines are noisy, so
 * every figure is the median of repetitions, and every measured variant runs interleaved with its baseline.
 */

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0–100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Runs every variant `repetitions` times, round-robin (a, b, c, a, b, c, …) with the starting variant rotated
 * each round, so drift of the machine (thermal, other processes) hits every variant alike.
 */
export async function interleave<V extends Record<string, () => Promise<unknown>>>(
  variants: V,
  repetitions: number,
): Promise<{ [K in keyof V]: Awaited<ReturnType<V[K]>>[] }> {
  const names = Object.keys(variants) as (keyof V & string)[];
  const results = Object.fromEntries(names.map((name) => [name, [] as unknown[]])) as Record<
    keyof V,
    unknown[]
  >;
  for (let round = 0; round < repetitions; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length] as keyof V & string;
      results[name].push(await (variants[name] as () => Promise<unknown>)());
    }
  }
  return results as { [K in keyof V]: Awaited<ReturnType<V[K]>>[] };
}

export const ratio = (value: number, baseline: number): number => (baseline > 0 ? value / baseline : NaN);

export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** A plain-text table: first row is the header; columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  const [header, ...body] = rows;
  if (header === undefined) return '';
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A correctness check: its failure (never a timing) makes the command exit non-zero. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export const check = (name: string, ok: boolean, detail = ''): Check => ({ name, ok, detail });

export function printChecks(checks: readonly Check[], write: (line: string) => void = console.log): boolean {
  for (const c of checks) write(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}${c.detail ? ` — ${c.detail}` : ''}`);
  return checks.every((c) => c.ok);
}

/**
 * Sends what the code under test writes to stdout and stderr (Powertools writes its JSON log lines and EMF
 * metrics there) to `sink` while `run` runs, so the command's own output stays readable. The lines are still
 * produced and serialized, so their cost stays in the measurement.
 */
export async function withStdoutTo<T>(sink: (chunk: string) => void, run: () => Promise<T>): Promise<T> {
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      sink(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  try {
    return await run();
  } finally {
    streams.forEach((stream, i) => (stream.write = originals[i] ?? stream.write));
  }
}

/** Progress lines for the operator: on stderr, past any capture `withStdoutTo` has in place. */
const stderrWrite = process.stderr.write.bind(process.stderr);
export const progress =
  (prefix: string) =>
  (line: string): void => {
    stderrWrite(`[${prefix}] ${line}\n`);
  };

export const discard = (): void => undefined;
