import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Webhook bodies for the tests: real captured deliveries, copied into the repository with their attribution
 * and licence (`test/fixtures/webhook-captures/README.md`). Envelopes built in code: webhook-events.ts.
 */
export const CAPTURES_DIR = resolve(import.meta.dirname, '../fixtures/webhook-captures');

/** The capture files, sorted (VERIFY included). */
export const captureFiles = (): string[] =>
  readdirSync(CAPTURES_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort();

/** A capture's raw text, byte for byte. */
export const readCapture = (file: string): string => readFileSync(join(CAPTURES_DIR, file), 'utf8');

export const captureJson = (file: string): Record<string, unknown> =>
  JSON.parse(readCapture(file)) as Record<string, unknown>;
