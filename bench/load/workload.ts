import { randomUUID } from 'node:crypto';
import { codeOf, poisonEvent, signalSpecs, vehicleStateEvent, type SignalSpec } from '../events.js';

/**
 * What `npm run load` sends: distinct VEHICLE_STATE events spread over vehicles, 20 % of the deliveries
 * re-sent with the same eventId, 10 % delivered out of order (an older event after newer ones of its vehicle),
 * 1 % poison (signed, but the processor can never apply it). Every event carries the vehicle's two shared
 * signals (newest-wins must keep the highest sequence number) and a marker signal of its own (its presence
 * proves the event was applied; nothing else may appear).
 */

export interface Delivery {
  readonly body: string;
  readonly kind: 'event' | 'resend' | 'poison';
}

export interface Expected {
  /** vehicleId → signal code → value. */
  readonly vehicles: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly poisonCount: number;
  readonly distinctEvents: number;
  readonly resends: number;
  readonly outOfOrder: number;
}

export interface Workload {
  readonly deliveries: readonly Delivery[];
  readonly expected: Expected;
}

const SHARED: readonly SignalSpec[] = signalSpecs(2);
const EVENTS_PER_VEHICLE = 20;

/** Deterministic shuffling (a seeded LCG), so a failing run can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

export function buildWorkload(total: number, seed = 13): Workload {
  const next = random(seed);
  const poisonCount = Math.max(1, Math.round(total * 0.01));
  const resendCount = Math.round(total * 0.2);
  const distinct = Math.max(1, total - poisonCount - resendCount);
  const vehicles = new Map<string, Map<string, number>>();
  const events: { body: string; vehicleId: string; seq: number }[] = [];
  const base = Date.now() - 3_600_000;
  const vehicleIds = Array.from({ length: Math.max(1, Math.ceil(distinct / EVENTS_PER_VEHICLE)) }, () =>
    randomUUID(),
  );
  for (let i = 0; i < distinct; i++) {
    const vehicleId = vehicleIds[i % vehicleIds.length] ?? '';
    const seq = Math.floor(i / vehicleIds.length);
    const marker: SignalSpec = { group: 'Bench', name: `Event${seq}` };
    const body = JSON.stringify(
      vehicleStateEvent({ vehicleId, signals: [...SHARED, marker], value: seq, at: base + seq * 1000 }),
    );
    events.push({ body, vehicleId, seq });
    const state = vehicles.get(vehicleId) ?? new Map<string, number>();
    for (const spec of SHARED) state.set(codeOf(spec), Math.max(state.get(codeOf(spec)) ?? -1, seq));
    state.set(codeOf(marker), seq);
    vehicles.set(vehicleId, state);
  }
  // In order per vehicle, then 10 % of all deliveries moved to the end: each arrives after newer ones.
  const outOfOrderCount = Math.min(Math.round(total * 0.1), events.length);
  const late = new Set<number>();
  while (late.size < outOfOrderCount) late.add(Math.floor(next() * events.length));
  const ordered: Delivery[] = events
    .filter((_, i) => !late.has(i))
    .map((event) => ({ body: event.body, kind: 'event' as const }));
  const deliveries: Delivery[] = [...ordered];
  for (const i of late) deliveries.push({ body: events[i]?.body ?? '', kind: 'event' });
  // Re-sends (same bytes, same eventId) and poison, each inserted at a random later position.
  const insert = (delivery: Delivery) =>
    deliveries.splice(Math.floor(next() * (deliveries.length + 1)), 0, delivery);
  for (let i = 0; i < resendCount; i++) {
    insert({ body: events[Math.floor(next() * events.length)]?.body ?? '', kind: 'resend' });
  }
  for (let i = 0; i < poisonCount; i++) insert({ body: JSON.stringify(poisonEvent(i)), kind: 'poison' });
  return {
    deliveries,
    expected: {
      vehicles,
      poisonCount,
      distinctEvents: distinct,
      resends: resendCount,
      outOfOrder: outOfOrderCount,
    },
  };
}
