import type { CommandName } from './command-request.js';
import type { AuditRecord, CommandAuditStore } from './command-audit.js';

/**
 * Confirmation of sent commands from the vehicle's own later report (docs/design.md, "Confirmation"). Smartcar's
 * "success" only means the request reached the vehicle's cloud; a webhook whose `closure-islocked` (or
 * `charge-ischarging`) carries the commanded value, with an `oemUpdatedAt` after the command was requested,
 * shows that the vehicle did it.
 *
 * The processor calls `confirmCommands` once per applied event: no read at all unless the event carries one of
 * these signals, then one small Query (the commands of the last hour before the report, newest first) and a
 * conditional update per command it confirms. SET_CHARGE_LIMIT stays SENT: its signal (`charge-chargelimits`)
 * is a per-location list that does not say which limit is in force.
 */

/** Signal code → the value each command of its family sets. */
const FAMILIES: Readonly<Record<string, Partial<Record<CommandName, boolean>>>> = {
  'closure-islocked': { LOCK: true, UNLOCK: false },
  'charge-ischarging': { START_CHARGE: true, STOP_CHARGE: false },
};
export const CONFIRMABLE_SIGNALS = Object.keys(FAMILIES);
/** Only commands requested this long before the vehicle's report are considered. */
export const CONFIRM_WINDOW_MS = 60 * 60 * 1000;
/** Items the Query reads at most (a vehicle gets a handful of commands an hour). */
export const CONFIRM_QUERY_LIMIT = 20;

export interface ObservedSignal {
  readonly code: string;
  readonly value: boolean;
  /** When the vehicle reported it (epoch ms). */
  readonly oemUpdatedAt: number;
}

/** The confirmable observations in a signal list (`{code, body: {value: boolean}, oemUpdatedAt}`). */
export function observedSignals(
  signals: readonly {
    readonly kind: string;
    readonly code: string;
    readonly body?: unknown;
    readonly oemUpdatedAt?: number;
  }[],
): ObservedSignal[] {
  const found: ObservedSignal[] = [];
  for (const signal of signals) {
    if (signal.kind !== 'value' || !(signal.code in FAMILIES) || signal.oemUpdatedAt === undefined) continue;
    const value = (signal.body as { value?: unknown } | null | undefined)?.value;
    if (typeof value === 'boolean')
      found.push({ code: signal.code, value, oemUpdatedAt: signal.oemUpdatedAt });
  }
  return found;
}

/**
 * Which SENT commands an observation confirms. Walking newest first through the commands requested before the
 * report: FAILED ones did nothing and are skipped; the first one of the family whose value differs ends the
 * walk (the vehicle's state then belongs to the newer command, or that one failed silently); until then every
 * SENT command with the observed value is confirmed.
 */
export function commandsToConfirm(
  observed: ObservedSignal,
  newestFirst: readonly Pick<AuditRecord, 'sk' | 'command' | 'status' | 'requestedAt'>[],
): string[] {
  const family = FAMILIES[observed.code] ?? {};
  const confirmed: string[] = [];
  for (const record of newestFirst) {
    const value = family[record.command];
    if (value === undefined || record.requestedAt >= observed.oemUpdatedAt) continue;
    if (record.status === 'FAILED') continue;
    if (value !== observed.value) break;
    if (record.status === 'SENT') confirmed.push(record.sk);
  }
  return confirmed;
}

/** Applies the observations of one event; returns how many commands became CONFIRMED. */
export async function confirmCommands(
  audit: Pick<CommandAuditStore, 'listRequestedBetween' | 'confirm'>,
  vehicleId: string,
  observations: readonly ObservedSignal[],
): Promise<number> {
  if (observations.length === 0) return 0;
  const latest = Math.max(...observations.map((o) => o.oemUpdatedAt));
  const earliest = Math.min(...observations.map((o) => o.oemUpdatedAt));
  // One Query covers every observation of the event.
  const records = await audit.listRequestedBetween(
    vehicleId,
    earliest - CONFIRM_WINDOW_MS,
    latest,
    CONFIRM_QUERY_LIMIT,
  );
  let count = 0;
  for (const observed of observations) {
    for (const sk of commandsToConfirm(observed, records)) {
      if (await audit.confirm(vehicleId, sk, observed.oemUpdatedAt)) count += 1;
    }
  }
  return count;
}
