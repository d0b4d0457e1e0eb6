import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Webhook bodies for the tests: real captured deliveries, copied into the repository with their attribution
 * and licence (`test/fixtures/webhook-captures/README.md`), and a small VEHICLE_STATE builder.
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

export interface StateOfChargeOptions {
  readonly eventId?: string;
  readonly soc?: number;
  readonly oemUpdatedAt?: number;
  /** @default oemUpdatedAt + 200 */
  readonly deliveredAt?: number;
  readonly mode?: string;
}

/** A v4 VEHICLE_STATE for one vehicle with a single state-of-charge signal, shaped like the real captures. */
export function stateOfChargeEvent(vehicleId: string, options: StateOfChargeOptions = {}) {
  const oemUpdatedAt = options.oemUpdatedAt ?? 1_000_000;
  return {
    eventId: options.eventId ?? randomUUID(),
    eventType: 'VEHICLE_STATE',
    data: {
      user: { id: 'user-1' },
      vehicle: { id: vehicleId, make: 'VOLKSWAGEN', model: 'ID.4', year: 2021 },
      signals: [
        {
          code: 'tractionbattery-stateofcharge',
          name: 'StateOfCharge',
          group: 'TractionBattery',
          body: { value: options.soc ?? 50, unit: 'percent' },
          meta: { oemUpdatedAt, retrievedAt: oemUpdatedAt + 100 },
          status: { value: 'SUCCESS' },
        },
      ],
    },
    triggers: [{ type: 'SIGNAL_UPDATED', signal: 'TractionBattery.StateOfCharge' }],
    meta: { deliveredAt: options.deliveredAt ?? oemUpdatedAt + 200, mode: options.mode ?? 'LIVE' },
  };
}
