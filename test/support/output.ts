import { vi } from 'vitest';

/**
 * Collects what is written to stdout and stderr (e.g. the logger's JSON lines) into `lines` instead of
 * printing it. Undone by `vi.restoreAllMocks()`.
 */
export function captureOutput(lines: string[]): void {
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  }
}
