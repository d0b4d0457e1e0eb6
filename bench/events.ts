import { randomUUID } from 'node:crypto';

/**
 * Synthetic Smartcar v4 webhook bodies, shaped like the captured deliveries (signals as
 * `{code,name,group,body,meta,status}` objects), for the bench and the load: a `VEHICLE_STATE` with any number of
 * signals. Compact JSON, so `JSON.stringify(JSON.parse(body))` is the same bytes (what the recipe's check needs).
 */

const GROUPS = ['TractionBattery', 'Odometer', 'Location', 'Charge', 'Climate', 'Tires', 'Doors', 'Lights'];
const NAMES = ['StateOfCharge', 'TraveledDistance', 'Range', 'Voltage', 'Temperature', 'Pressure', 'Status'];

export interface SignalSpec {
  readonly group: string;
  readonly name: string;
}

/** `count` distinct signal names; the first two are the real state-of-charge and odometer signals. */
export function signalSpecs(count: number): SignalSpec[] {
  const specs: SignalSpec[] = [];
  for (let i = 0; specs.length < count; i++) {
    const group = GROUPS[i % GROUPS.length] ?? 'Bench';
    const name = `${NAMES[Math.floor(i / GROUPS.length) % NAMES.length] ?? 'Value'}${i < 56 ? '' : i}`;
    specs.push({ group, name });
  }
  return specs;
}

export const codeOf = (spec: SignalSpec): string => `${spec.group}-${spec.name}`.toLowerCase();

export interface StateEventOptions {
  readonly vehicleId: string;
  readonly eventId?: string;
  readonly signals: readonly SignalSpec[];
  /** Every signal's value (the load encodes the event's sequence number here). */
  readonly value: number;
  /** oemUpdatedAt of every signal: the order key of newest-wins. */
  readonly at: number;
}

export function vehicleStateEvent(options: StateEventOptions): Record<string, unknown> {
  const { at } = options;
  return {
    eventId: options.eventId ?? randomUUID(),
    eventType: 'VEHICLE_STATE',
    data: {
      user: { id: 'bench-user' },
      vehicle: { id: options.vehicleId, make: 'VOLKSWAGEN', model: 'ID.4', year: 2023 },
      signals: options.signals.map((spec) => ({
        code: codeOf(spec),
        name: spec.name,
        group: spec.group,
        body: { value: options.value, unit: 'percent' },
        meta: { oemUpdatedAt: at, retrievedAt: at + 100 },
        status: { value: 'SUCCESS' },
      })),
    },
    triggers: [
      { type: 'SIGNAL_UPDATED', signal: `${options.signals[0]?.group}.${options.signals[0]?.name}` },
    ],
    meta: { deliveryId: randomUUID(), deliveredAt: at + 200, deliveryTime: at + 200, mode: 'LIVE' },
  };
}

/**
 * Signed but unprocessable: a `VEHICLE_STATE` whose vehicle id cannot be a key (`#` is not allowed), so the
 * processor refuses it every time it is delivered.
 */
export function poisonEvent(n: number): Record<string, unknown> {
  return {
    eventId: randomUUID(),
    eventType: 'VEHICLE_STATE',
    data: {
      user: { id: 'bench-user' },
      vehicle: { id: `#poison-${n}` },
      signals: [{ code: 'bench-poison', name: 'Poison', group: 'Bench', body: { value: n } }],
    },
    meta: { deliveredAt: Date.now(), mode: 'LIVE' },
  };
}

/** A ~5 KB body (22 signals), the size the receiver figures are quoted for. */
export function fiveKilobyteBody(): string {
  return JSON.stringify(
    vehicleStateEvent({
      vehicleId: randomUUID(),
      signals: signalSpecs(22),
      value: 42.5,
      at: 1_758_238_783_185,
    }),
  );
}
