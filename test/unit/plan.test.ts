import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWebhook } from '../../lambdas/webhook-processor/parse.js';
import { UnprocessableEventError } from '../../lambdas/webhook-processor/event.js';
import {
  MAX_RAW_FANOUT,
  planEvent,
  type Plan,
  type PlanOptions,
  type SignalErrorWrite,
  type SignalValueWrite,
  type VehicleErrorWrite,
  type WriteIntent,
} from '../../lambdas/webhook-processor/plan.js';
import { deriveVehicleStatus } from '../../lambdas/vehicles/vehicle-status.js';
import { CAPTURES_DIR as CAPTURES } from '../support/webhook-fixtures.js';

const capture = (file: string) => readFileSync(join(CAPTURES, file), 'utf8');

const RECEIVED_AT = 1_800_000_000_000;
const options: PlanOptions = {
  receivedAt: RECEIVED_AT,
  testEvents: 'separate',
  rawEventTtlDays: 30,
  resolvedErrorTtlSeconds: 1_209_600,
};

function intentsOf(plan: Plan): WriteIntent[] {
  if (plan.action !== 'apply') throw new Error(`expected apply, got ${plan.action}`);
  return plan.intents;
}

function plan(body: unknown, overrides: Partial<PlanOptions> = {}): Plan {
  return planEvent(parseWebhook(typeof body === 'string' ? body : JSON.stringify(body)), {
    ...options,
    ...overrides,
  });
}

/** What a change is about: PROFILE, SIGNAL#<code>, ERROR#<type>#<code>, or a raw event's sort key. */
function keyOf(intent: WriteIntent): string {
  switch (intent.kind) {
    case 'profile':
      return 'PROFILE';
    case 'signal-value':
    case 'signal-error':
      return `SIGNAL#${intent.code}`;
    case 'vehicle-error':
      return `ERROR#${intent.key}`;
    case 'raw-event':
      return intent.sk;
  }
}

function bySk<T extends WriteIntent>(intents: WriteIntent[], key: string): T {
  const found = intents.find((intent) => keyOf(intent) === key);
  if (!found) throw new Error(`no intent for ${key}`);
  return found as T;
}

/** Sane event times (the planner treats pre-2000 and far-future timestamps as missing). */
const T = 1_750_000_000_000;

function stateEvent(signals: unknown[], meta: Record<string, unknown> = { deliveredAt: T + 5_000 }) {
  return {
    eventId: 'evt-1',
    eventType: 'VEHICLE_STATE',
    data: {
      user: { id: 'user-1' },
      vehicle: { id: 'veh-1', make: 'VW', model: 'ID.4', year: 2021 },
      signals,
    },
    meta,
  };
}

describe('VEHICLE_STATE', () => {
  it('upserts the profile and writes every signal under the vehicle partition', () => {
    const intents = intentsOf(plan(capture('byd_seal_all.json')));
    const pk = 'VEHICLE#b3014ded-85db-4f12-8923-7a231354d8d0';
    expect(intents).toHaveLength(12);
    expect(intents.every((intent) => intent.pk === pk)).toBe(true);
    expect(bySk(intents, 'PROFILE')).toEqual({
      kind: 'profile',
      pk,
      vehicleId: 'b3014ded-85db-4f12-8923-7a231354d8d0',
      smartcarUserId: 'da4ef0df-73b9-4ad7-8c59-1b15ff646f0b',
      make: 'BYD',
      model: 'Seal U Dm-i',
      year: 2025,
      at: 1767920009942,
    });
    expect(bySk(intents, 'SIGNAL#tractionbattery-stateofcharge')).toEqual({
      kind: 'signal-value',
      pk,
      code: 'tractionbattery-stateofcharge',
      name: 'StateOfCharge',
      group: 'TractionBattery',
      body: { value: 78, unit: 'percent' },
      status: { value: 'SUCCESS' },
      times: { oemUpdatedAt: 1767920001000, retrievedAt: 1767920009852, deliveredAt: 1767920009942 },
      eventId: 'fc457667-b065-4c8c-8441-4a8fb6f64976',
      at: 1767920009942,
    });
  });

  it('a signal error records the error and carries no value, so the last good value is kept', () => {
    const intents = intentsOf(plan(capture('vw_id_4_all.json')));
    const error = bySk<SignalErrorWrite>(intents, 'SIGNAL#closure-islocked');
    expect(error).toEqual({
      kind: 'signal-error',
      pk: 'VEHICLE#a1d50709-3502-4faa-ba43-a5c7565e6a09',
      code: 'closure-islocked',
      name: 'IsLocked',
      group: 'Closure',
      status: { value: 'ERROR', error: { type: 'PERMISSION', code: null } },
      error: { type: 'PERMISSION', code: null },
      at: 1758238783185,
    });
    for (const field of ['body', 'times']) expect(error).not.toHaveProperty(field);
  });

  it('carries every sane time of a value (OEM, retrieved/fetched, delivered); without any there are none', () => {
    const withTimes = intentsOf(
      plan(
        stateEvent([
          { code: 'a-oem', body: {}, meta: { oemUpdatedAt: T + 100, retrievedAt: T + 200 } },
          { code: 'a-retrieved', body: {}, meta: { retrievedAt: T + 200 } },
          { code: 'a-fetched', body: {}, meta: { fetchedAt: T + 300 } },
          { code: 'a-none', body: {}, meta: {} },
        ]),
      ),
    );
    const times = (code: string) => bySk<SignalValueWrite>(withTimes, `SIGNAL#${code}`).times;
    const deliveredAt = T + 5_000;
    expect(times('a-oem')).toEqual({ oemUpdatedAt: T + 100, retrievedAt: T + 200, deliveredAt });
    expect(times('a-retrieved')).toEqual({ retrievedAt: T + 200, deliveredAt });
    expect(times('a-fetched')).toEqual({ retrievedAt: T + 300, deliveredAt });
    expect(times('a-none')).toEqual({ deliveredAt });

    const noMeta = intentsOf(plan(stateEvent([{ code: 'a-none', body: {} }], {})));
    const signal = bySk<SignalValueWrite>(noMeta, 'SIGNAL#a-none');
    expect(signal.times).toEqual({});
    // The event time falls back to when the receiver queued it.
    expect(signal.at).toBe(RECEIVED_AT);
  });

  it('a timestamp before 2000 or more than 5 minutes ahead of the queue time counts as missing, and is counted', () => {
    const result = plan(
      stateEvent(
        [
          { code: 'seconds', body: {}, meta: { oemUpdatedAt: 1_750_000_000, retrievedAt: T } },
          { code: 'micros', body: {}, meta: { oemUpdatedAt: T * 1000 } },
          { code: 'ahead', body: {}, meta: { oemUpdatedAt: RECEIVED_AT + 5 * 60_000 + 1 } },
          { code: 'skewed', body: {}, meta: { oemUpdatedAt: RECEIVED_AT + 5 * 60_000 } },
        ],
        { deliveredAt: RECEIVED_AT * 1000 },
      ),
    );
    const intents = intentsOf(result);
    const times = (code: string) => bySk<SignalValueWrite>(intents, `SIGNAL#${code}`).times;
    expect(times('seconds')).toEqual({ retrievedAt: T });
    expect(times('micros')).toEqual({});
    expect(times('ahead')).toEqual({});
    expect(times('skewed')).toEqual({ oemUpdatedAt: RECEIVED_AT + 5 * 60_000 });
    // The absurd deliveredAt is dropped too; the event time falls back to the queue time.
    expect(bySk(intents, 'PROFILE')).toMatchObject({ at: RECEIVED_AT });
    expect(result).toMatchObject({ insaneTimestamps: 4 });
  });

  it('one write per signal code: the newest value wins, a value beats an error', () => {
    const intents = intentsOf(
      plan(
        stateEvent([
          { code: 'dup', body: { value: 'new' }, meta: { oemUpdatedAt: T + 200 } },
          { code: 'dup', body: { value: 'old' }, meta: { oemUpdatedAt: T + 100 } },
          { code: 'mixed', status: { value: 'ERROR', error: { type: 'UPSTREAM', code: null } } },
          { code: 'mixed', body: { value: 1 }, meta: { oemUpdatedAt: T + 1 } },
        ]),
      ),
    );
    expect(intents.filter((intent) => keyOf(intent) === 'SIGNAL#dup')).toHaveLength(1);
    expect(bySk<SignalValueWrite>(intents, 'SIGNAL#dup').body).toEqual({ value: 'new' });
    expect(bySk(intents, 'SIGNAL#mixed').kind).toBe('signal-value');
  });

  it('is deterministic: the same message always yields the same plan', () => {
    const body = capture('polestar_2_all.json');
    expect(plan(body)).toEqual(plan(body));
  });
});

describe('VEHICLE_ERROR', () => {
  const errorEvent = (state: string, deliveredAt = T + 9_000) => ({
    eventId: `err-${state}`,
    eventType: 'VEHICLE_ERROR',
    data: {
      vehicle: { id: 'veh-1' },
      errors: [
        {
          type: 'PERMISSION',
          code: null,
          resolution: { type: 'REAUTHENTICATE' },
          state,
          signals: ['Closure.IsLocked'],
        },
      ],
    },
    meta: { deliveredAt },
  });

  it('keeps one entry per (type, code); a null code is NONE', () => {
    const intents = intentsOf(plan(capture('vw_id_4_error.json')));
    expect(intents.map(keyOf).sort()).toEqual([
      'ERROR#COMPATIBILITY#VEHICLE_NOT_CAPABLE',
      'ERROR#PERMISSION#NONE',
      'PROFILE',
    ]);
    const permission = bySk<VehicleErrorWrite>(intents, 'ERROR#PERMISSION#NONE');
    expect(permission).toMatchObject({
      type: 'PERMISSION',
      code: null,
      state: 'ERROR',
      signals: ['closure-islocked'],
      at: 1758224204078,
    });
    expect(permission).not.toHaveProperty('expiresAt');
  });

  it('RESOLVED becomes a tombstone with a TTL on the same entry', () => {
    const resolved = bySk<VehicleErrorWrite>(
      intentsOf(plan(errorEvent('RESOLVED'))),
      'ERROR#PERMISSION#NONE',
    );
    expect(resolved.state).toBe('RESOLVED');
    expect(resolved.at).toBe(T + 9_000);
    expect(resolved.expiresAt).toBe((T + 9_000) / 1000 + options.resolvedErrorTtlSeconds);
    const active = bySk<VehicleErrorWrite>(intentsOf(plan(errorEvent('ERROR'))), 'ERROR#PERMISSION#NONE');
    expect(active.key).toBe(resolved.key);
    expect(active).not.toHaveProperty('expiresAt');
  });

  it('NEEDS_REAUTH: derived from active REAUTHENTICATE errors on used signals, until resolved', () => {
    const errorsOf = (body: unknown) =>
      intentsOf(plan(body)).filter((intent): intent is VehicleErrorWrite => intent.kind === 'vehicle-error');
    expect(deriveVehicleStatus(undefined, errorsOf(capture('vw_id_4_broad_auth_error.json')))).toBe(
      'NEEDS_REAUTH',
    );
    // Names only VehicleUserAccount signals: counts for a vehicle without a grant (every signal counts), not
    // for one whose grant never asked for read_user_profile.
    const irrelevant = errorsOf(capture('vw_id_4_irrelevant_auth_error.json'));
    expect(deriveVehicleStatus(undefined, irrelevant)).toBe('NEEDS_REAUTH');
    expect(deriveVehicleStatus({ permissions: ['read_vehicle_info', 'read_odometer'] }, irrelevant)).toBe(
      'CONNECTED',
    );
    expect(deriveVehicleStatus(undefined, errorsOf(errorEvent('RESOLVED')))).toBe('CONNECTED');

    const compatibilityOnly = errorsOf(capture('vw_id_4_error.json')).filter(
      (error) => error.type === 'COMPATIBILITY',
    );
    expect(deriveVehicleStatus(undefined, compatibilityOnly)).toBe('CONNECTED');
    expect(deriveVehicleStatus('DISCONNECTED', compatibilityOnly)).toBe('DISCONNECTED');

    // A lapsed brand subscription is not fixed by Connect: the vehicle stays CONNECTED (and needs an action).
    const account = errorsOf({
      eventId: 'e',
      eventType: 'VEHICLE_ERROR',
      data: {
        vehicle: { id: 'veh-1' },
        errors: [
          {
            type: 'CONNECTED_SERVICES_ACCOUNT',
            code: 'SUBSCRIPTION',
            resolution: { type: null },
            state: 'ERROR',
          },
        ],
      },
    });
    expect(deriveVehicleStatus(undefined, account)).toBe('CONNECTED');
  });
});

describe('TEST mode', () => {
  it('separate (default): TEST#VEHICLE# partitions', () => {
    const intents = intentsOf(plan(capture('vw_id_4_test_mode.json')));
    expect(new Set(intents.map((intent) => intent.pk))).toEqual(
      new Set(['TEST#VEHICLE#a1d50709-3502-4faa-ba43-a5c7565e6a09']),
    );
  });

  it('skip: dropped without writes; LIVE events are unaffected', () => {
    expect(plan(capture('vw_id_4_test_mode.json'), { testEvents: 'skip' })).toEqual({ action: 'skip-test' });
    expect(plan(capture('vw_id_4_fuel.json'), { testEvents: 'skip' }).action).toBe('apply');
  });
});

describe('raw events', () => {
  const v2 = {
    version: '2.0',
    webhookId: 'wh-1',
    eventName: 'schedule',
    mode: 'live',
    payload: { eventId: 'p-1', vehicles: [{ vehicleId: 'v2-a' }, { vehicleId: 'v2-b' }] },
  };

  it('a v2 envelope is stored as received under each vehicle, with a TTL', () => {
    const raw = JSON.stringify(v2);
    const intents = intentsOf(plan(raw));
    expect(intents).toEqual(
      ['v2-a', 'v2-b'].map((vehicleId) => ({
        kind: 'raw-event',
        pk: `VEHICLE#${vehicleId}`,
        sk: 'EVENT#schedule#p-1',
        eventType: 'schedule',
        eventId: 'p-1',
        raw,
        receivedAt: RECEIVED_AT,
        expiresAt: RECEIVED_AT / 1000 + 30 * 86_400,
      })),
    );
  });

  it('without an event id the body hash names the item; TEST v2 goes to the TEST partition or is skipped', () => {
    const body = { ...v2, mode: 'test', payload: { vehicleId: 'v2-a' } };
    const [intent] = intentsOf(plan(body));
    expect(intent?.pk).toBe('TEST#VEHICLE#v2-a');
    expect(intent?.kind === 'raw-event' && intent.sk).toMatch(/^EVENT#schedule#[0-9a-f]{64}$/);
    expect(plan(body, { testEvents: 'skip' })).toEqual({ action: 'skip-test' });
  });

  it('a v2 envelope naming more vehicles than the fan-out cap is unprocessable (quarantined, not fanned out)', () => {
    const vehicles = Array.from({ length: MAX_RAW_FANOUT + 1 }, (_, index) => ({ vehicleId: `v-${index}` }));
    expect(() => plan({ ...v2, payload: { vehicles } })).toThrow(UnprocessableEventError);
    const atCap = vehicles.slice(0, MAX_RAW_FANOUT);
    expect(intentsOf(plan({ ...v2, payload: { vehicles: atCap } }))).toHaveLength(MAX_RAW_FANOUT);
  });

  it('an unknown v4 type is stored raw under its vehicle', () => {
    const intents = intentsOf(
      plan({ eventId: 'x-1', eventType: 'NEW_TYPE', data: { vehicle: { id: 'veh-1' } } }),
    );
    expect(intents).toEqual([
      expect.objectContaining({ kind: 'raw-event', pk: 'VEHICLE#veh-1', eventType: 'NEW_TYPE' }),
    ]);
  });
});

describe('VERIFY', () => {
  it('is ignored', () => {
    expect(plan(capture('vw_id_4_verify.json'))).toEqual({ action: 'ignore', reason: 'verify' });
  });
});
