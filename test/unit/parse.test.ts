import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeFromPath, parseWebhook, toEpochMs } from '../../lambdas/webhook-processor/parse.js';
import {
  UnprocessableEventError,
  type NormalizedEvent,
  type NormalizedSignal,
  type VehicleErrorEvent,
  type VehicleStateEvent,
} from '../../lambdas/webhook-processor/event.js';
import { planEvent } from '../../lambdas/webhook-processor/plan.js';
import { CAPTURES_DIR as CAPTURES } from '../support/webhook-fixtures.js';

const captureFiles = readdirSync(CAPTURES)
  .filter((file) => file.endsWith('.json'))
  .sort();

function capture(file: string): string {
  return readFileSync(join(CAPTURES, file), 'utf8');
}

function parseState(raw: string): VehicleStateEvent {
  const event = parseWebhook(raw);
  expect(event.kind).toBe('vehicle-state');
  return event as VehicleStateEvent;
}

function parseErrors(raw: string): VehicleErrorEvent {
  const event = parseWebhook(raw);
  expect(event.kind).toBe('vehicle-error');
  return event as VehicleErrorEvent;
}

function signal(event: VehicleStateEvent, code: string): NormalizedSignal {
  const found = event.signals.find((candidate) => candidate.code === code);
  if (!found) throw new Error(`signal ${code} not found`);
  return found;
}

const planOptions = {
  receivedAt: 1_700_000_000_000,
  testEvents: 'separate',
  rawEventTtlDays: 30,
  resolvedErrorTtlSeconds: 60,
} as const;

describe('real webhook captures', () => {
  it('finds the captures', () => {
    expect(captureFiles.length).toBeGreaterThanOrEqual(12);
  });

  it.each(captureFiles)('%s parses and plans without error', (file) => {
    const event = parseWebhook(capture(file));
    expect(() => planEvent(event, planOptions)).not.toThrow();
  });

  it('byd_seal_all: profile, object triggers, values with status SUCCESS and error signals', () => {
    const event = parseState(capture('byd_seal_all.json'));
    expect(event.eventId).toBe('fc457667-b065-4c8c-8441-4a8fb6f64976');
    expect(event.dedupeKey).toBe('VEHICLE_STATE#fc457667-b065-4c8c-8441-4a8fb6f64976');
    expect(event.vehicle).toEqual({
      id: 'b3014ded-85db-4f12-8923-7a231354d8d0',
      userId: 'da4ef0df-73b9-4ad7-8c59-1b15ff646f0b',
      make: 'BYD',
      model: 'Seal U Dm-i',
      year: 2025,
    });
    expect(event.mode).toBe('live');
    expect(event.deliveredAt).toBe(1767920009942);
    expect(event.signals).toHaveLength(11);
    expect(event.unreadableSignals).toBe(0);
    expect(event.triggers).toEqual([
      { type: 'SIGNAL_UPDATED', code: 'connectivitystatus-isasleep' },
      { type: 'SIGNAL_UPDATED', code: 'connectivitystatus-isonline' },
      { type: 'SIGNAL_UPDATED', code: 'closure-islocked' },
    ]);
    expect(signal(event, 'tractionbattery-stateofcharge')).toEqual({
      kind: 'value',
      code: 'tractionbattery-stateofcharge',
      name: 'StateOfCharge',
      group: 'TractionBattery',
      body: { value: 78, unit: 'percent' },
      status: { value: 'SUCCESS' },
      oemUpdatedAt: 1767920001000,
      retrievedAt: 1767920009852,
    });
    expect(signal(event, 'vehicleuseraccount-role')).toMatchObject({
      kind: 'error',
      error: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' },
    });
    expect(event.signals.filter((candidate) => candidate.kind === 'error')).toHaveLength(4);
  });

  it('vw_id_4_all: string triggers, values without status, `meta: {}`, a null error code, no meta.version', () => {
    const event = parseState(capture('vw_id_4_all.json'));
    expect(event.vehicle.id).toBe('a1d50709-3502-4faa-ba43-a5c7565e6a09');
    expect(event.triggers.map((trigger) => trigger.code)).toEqual([
      'odometer-traveleddistance',
      'tractionbattery-stateofcharge',
    ]);
    expect(signal(event, 'odometer-traveleddistance')).toMatchObject({
      kind: 'value',
      body: { value: 62041, unit: 'km' },
      oemUpdatedAt: 1758238176603,
      retrievedAt: 1758238782829,
    });
    const isCharging = signal(event, 'charge-ischarging');
    expect(isCharging).toMatchObject({ kind: 'value', body: { value: false } });
    expect(isCharging).not.toHaveProperty('oemUpdatedAt');
    expect(isCharging).not.toHaveProperty('retrievedAt');
    expect(signal(event, 'closure-islocked')).toMatchObject({
      kind: 'error',
      error: { type: 'PERMISSION', code: null },
    });
    expect(event.deliveredAt).toBe(1758238783185);
  });

  it('vw_id_4_error: string and object error signals, swapped name/group resolved by code, null resolution type', () => {
    const event = parseErrors(capture('vw_id_4_error.json'));
    expect(event.vehicle.id).toBe('a1d50709-3502-4faa-ba43-a5c7565e6a09');
    expect(event.errors).toHaveLength(2);
    const [compatibility, permission] = event.errors;
    expect(compatibility).toMatchObject({
      type: 'COMPATIBILITY',
      code: 'VEHICLE_NOT_CAPABLE',
      state: 'ERROR',
      resolution: { type: null },
    });
    expect(compatibility?.signals).toContain('vehicleidentification-nickname');
    expect(compatibility?.signals).toContain('internalcombustionengine-fuellevel');
    expect(compatibility?.signals).toHaveLength(8);
    expect(permission).toMatchObject({
      type: 'PERMISSION',
      code: null,
      resolution: { type: 'REAUTHENTICATE' },
      signals: ['closure-islocked'],
    });
  });

  it('vw_id_4_broad_auth_error: an error without signals', () => {
    const event = parseErrors(capture('vw_id_4_broad_auth_error.json'));
    expect(event.errors).toEqual([
      expect.objectContaining({
        type: 'PERMISSION',
        code: null,
        signals: [],
        resolution: { type: 'REAUTHENTICATE' },
      }),
    ]);
  });

  it('vw_id_4_irrelevant_auth_error: object signals with codes', () => {
    const event = parseErrors(capture('vw_id_4_irrelevant_auth_error.json'));
    expect(event.errors[0]?.signals).toEqual(['vehicleuseraccount-permissions', 'vehicleuseraccount-role']);
  });

  it('vw_id_4_test_mode: meta.mode TEST', () => {
    const event = parseState(capture('vw_id_4_test_mode.json'));
    expect(event.mode).toBe('test');
    expect(event.signals.map((candidate) => candidate.code)).toEqual([
      'internalcombustionengine-fuellevel',
      'internalcombustionengine-range',
    ]);
  });

  it('vw_id_4_fuel is LIVE', () => {
    expect(parseState(capture('vw_id_4_fuel.json')).mode).toBe('live');
  });

  it('meta.mode SIMULATED (Smartcar merged test into simulated) is non-live too, in any case', () => {
    const withMode = (mode: string) => {
      const body = JSON.parse(capture('vw_id_4_fuel.json')) as { meta: Record<string, unknown> };
      body.meta.mode = mode;
      return parseState(JSON.stringify(body)).mode;
    };
    expect(withMode('SIMULATED')).toBe('test');
    expect(withMode('simulated')).toBe('test');
    expect(withMode('Test')).toBe('test');
    expect(withMode('LIVE')).toBe('live');
  });

  it('vw_id_4_mismatch: no meta at all, empty signals', () => {
    const event = parseState(capture('vw_id_4_mismatch.json'));
    expect(event.vehicle).toMatchObject({
      id: '70076e4a-d774-464c-8241-60de654ccb24',
      make: 'Hyundai',
      year: 2023,
    });
    expect(event.deliveredAt).toBeUndefined();
    expect(event.signals).toEqual([]);
  });

  it('vw_id_4_verify: VERIFY is recognized (and later ignored)', () => {
    expect(parseWebhook(capture('vw_id_4_verify.json'))).toEqual({ kind: 'verify', eventType: 'VERIFY' });
  });

  it('jaguar_ipace2_all: 85 signals, a placeholder event id', () => {
    const event = parseState(capture('jaguar_ipace2_all.json'));
    expect(event.signals).toHaveLength(85);
    expect(event.dedupeKey).toBe('VEHICLE_STATE#XXXX');
    expect(signal(event, 'location-preciselocation')).toMatchObject({
      kind: 'value',
      oemUpdatedAt: 1768147275000,
    });
  });

  it('every signal of every capture has a lowercase code', () => {
    for (const file of captureFiles) {
      const event = parseWebhook(capture(file));
      if (event.kind !== 'vehicle-state') continue;
      for (const candidate of event.signals) expect(candidate.code).toMatch(/^[a-z0-9]+-[a-z0-9]+$/);
    }
  });
});

describe('documented and variant shapes', () => {
  const docsStyle = {
    eventId: 'evt-docs-1',
    eventType: 'VEHICLE_STATE',
    vehicleId: 'top-level-vehicle',
    data: {
      triggers: ['Charge.IsCharging', 'TractionBattery.StateOfCharge'],
      signals: {
        'Charge.IsCharging': { value: true, meta: { oemUpdatedAt: 1700000000000, fetchedAt: 1700000001000 } },
        'TractionBattery.StateOfCharge': {
          body: { value: 85, unit: 'percent' },
          meta: { oemUpdatedAt: '2023-11-14T22:13:20.000Z' },
        },
        'Odometer.TraveledDistance': {
          status: { value: 'ERROR', error: { type: 'UPSTREAM', code: 'NO_RESPONSE' } },
        },
      },
      somethingNew: { nested: true },
    },
    meta: { deliveredAt: '2023-11-14T22:13:25.000Z', mode: 'test', version: '4.0' },
  };

  it('signals keyed by "Group.Name", triggers under data, top-level vehicleId, ISO timestamps', () => {
    const event = parseState(JSON.stringify(docsStyle));
    expect(event.vehicle).toEqual({ id: 'top-level-vehicle' });
    expect(event.mode).toBe('test');
    expect(event.deliveredAt).toBe(Date.parse('2023-11-14T22:13:25.000Z'));
    expect(event.triggers.map((trigger) => trigger.code)).toEqual([
      'charge-ischarging',
      'tractionbattery-stateofcharge',
    ]);
    expect(signal(event, 'charge-ischarging')).toEqual({
      kind: 'value',
      code: 'charge-ischarging',
      name: 'IsCharging',
      group: 'Charge',
      body: { value: true },
      oemUpdatedAt: 1700000000000,
      retrievedAt: 1700000001000,
    });
    expect(signal(event, 'tractionbattery-stateofcharge')).toMatchObject({
      body: { value: 85, unit: 'percent' },
      oemUpdatedAt: Date.parse('2023-11-14T22:13:20.000Z'),
    });
    expect(signal(event, 'odometer-traveleddistance')).toMatchObject({
      kind: 'error',
      error: { type: 'UPSTREAM', code: 'NO_RESPONSE' },
    });
  });

  it('degrades oddly typed fields instead of rejecting the event', () => {
    const event = parseState(
      JSON.stringify({
        eventId: 42,
        eventType: 'vehicle_state',
        data: {
          vehicle: { id: 'v-1', make: 7, year: '2021' },
          signals: [
            { code: 'Closure-IsLocked', body: { value: true }, meta: { oemUpdatedAt: 'not a time' } },
            { name: 'NoGroup', body: { value: 1 } },
            { code: 'charge-voltage', status: { value: 'SUCCESS' } },
            'not a signal',
          ],
        },
        triggers: [{ type: 'SIGNAL_UPDATED', signal: 12 }],
        meta: { deliveredAt: 1700000000000 },
      }),
    );
    expect(event.eventType).toBe('VEHICLE_STATE');
    expect(event.eventId).toBeUndefined();
    expect(event.dedupeKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(event.vehicle).toEqual({ id: 'v-1', year: 2021 });
    expect(event.signals).toEqual([{ kind: 'value', code: 'closure-islocked', body: { value: true } }]);
    // No identity, neither a body nor an error, not an object: counted, not fatal.
    expect(event.unreadableSignals).toBe(3);
    expect(event.triggers).toEqual([{ type: 'SIGNAL_UPDATED' }]);
  });

  it('an unknown v4 event type with a vehicle id is kept raw', () => {
    const raw = JSON.stringify({
      eventId: 'e-9',
      eventType: 'VEHICLE_DIAGNOSTIC',
      data: { vehicle: { id: 'v-9' } },
    });
    expect(parseWebhook(raw)).toEqual({
      kind: 'raw',
      format: 'v4',
      dedupeKey: 'VEHICLE_DIAGNOSTIC#e-9',
      eventId: 'e-9',
      eventType: 'VEHICLE_DIAGNOSTIC',
      mode: 'live',
      vehicleIds: ['v-9'],
      raw,
    });
  });
});

describe('v2 envelopes', () => {
  it('payload object with vehicleId and eventId', () => {
    const raw = JSON.stringify({
      version: '2.0',
      webhookId: 'wh-1',
      eventName: 'eventBased',
      mode: 'test',
      payload: {
        eventId: 'p-1',
        vehicleId: 'v2-a',
        data: [{ path: '/battery', body: { percentRemaining: 0.5 } }],
      },
    });
    expect(parseWebhook(raw)).toMatchObject({
      kind: 'raw',
      format: 'v2',
      eventId: 'p-1',
      dedupeKey: 'eventBased#p-1',
      eventType: 'eventBased',
      mode: 'test',
      vehicleIds: ['v2-a'],
      raw,
    });
  });

  it('vehicles in payload[] and payload.vehicles[]; no event id → body hash', () => {
    const arrayPayload = JSON.stringify({
      version: '2.0',
      eventName: 'schedule',
      mode: 'live',
      payload: [{ vehicleId: 'v2-a' }, { vehicleId: 'v2-b' }, { vehicleId: 'v2-a' }],
    });
    const event = parseWebhook(arrayPayload) as Extract<NormalizedEvent, { kind: 'raw' }>;
    expect(event.vehicleIds).toEqual(['v2-a', 'v2-b']);
    expect(event.dedupeKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(event.eventId).toBeUndefined();

    const nested = JSON.stringify({
      version: '2.0',
      eventName: 'dynamic',
      payload: { vehicles: [{ vehicleId: 'v2-c' }, { id: 'v2-d' }] },
    });
    expect((parseWebhook(nested) as Extract<NormalizedEvent, { kind: 'raw' }>).vehicleIds).toEqual([
      'v2-c',
      'v2-d',
    ]);
  });

  it('the same bytes give the same dedupe key; different bytes a different one', () => {
    const body = { version: '2.0', eventName: 'schedule', payload: { vehicleId: 'v2-a' } };
    const first = parseWebhook(JSON.stringify(body)) as Extract<NormalizedEvent, { kind: 'raw' }>;
    const again = parseWebhook(JSON.stringify(body)) as Extract<NormalizedEvent, { kind: 'raw' }>;
    const other = parseWebhook(JSON.stringify({ ...body, mode: 'live' })) as Extract<
      NormalizedEvent,
      { kind: 'raw' }
    >;
    expect(again.dedupeKey).toBe(first.dedupeKey);
    expect(other.dedupeKey).not.toBe(first.dedupeKey);
  });

  it('a v2 verify is ignored like a v4 VERIFY', () => {
    expect(
      parseWebhook(JSON.stringify({ version: '2.0', eventName: 'verify', payload: { challenge: 'x' } })),
    ).toEqual({
      kind: 'verify',
      eventType: 'verify',
    });
  });
});

describe('bodies that cannot be understood', () => {
  it.each([
    ['not JSON', 'not json at all'],
    ['a JSON array', '[1,2,3]'],
    ['a JSON string', '"VEHICLE_STATE"'],
    ['no event type', JSON.stringify({ data: { vehicle: { id: 'v-1' } } })],
    [
      'VEHICLE_STATE without a vehicle id',
      JSON.stringify({ eventId: 'e', eventType: 'VEHICLE_STATE', data: {} }),
    ],
    [
      'VEHICLE_ERROR without a vehicle id',
      JSON.stringify({ eventId: 'e', eventType: 'VEHICLE_ERROR', data: { errors: [] } }),
    ],
    ['an unknown type without a vehicle id', JSON.stringify({ eventId: 'e', eventType: 'SOMETHING_NEW' })],
    [
      'a vehicle id with the key separator',
      JSON.stringify({ eventType: 'VEHICLE_STATE', data: { vehicle: { id: 'a#b' } } }),
    ],
    [
      'a v2 event without vehicle ids',
      JSON.stringify({ version: '2.0', eventName: 'schedule', payload: { x: 1 } }),
    ],
  ])('%s → UnprocessableEventError', (_label, raw) => {
    expect(() => parseWebhook(raw)).toThrow(UnprocessableEventError);
  });

  it('the error details carry identifiers, never the body', () => {
    const raw = JSON.stringify({
      eventId: 'e-1',
      eventType: 'VEHICLE_STATE',
      data: { signals: [{ code: 'location-preciselocation', body: { latitude: 52.2385 } }] },
    });
    try {
      parseWebhook(raw);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UnprocessableEventError);
      const { message, details } = error as UnprocessableEventError;
      expect(details).toEqual({ format: 'v4', eventType: 'VEHICLE_STATE', eventId: 'e-1' });
      expect(JSON.stringify({ message, details })).not.toContain('52.2385');
    }
  });
});

describe('helpers', () => {
  it('derives signal codes from "Group.Name"', () => {
    expect(codeFromPath('TractionBattery.StateOfCharge')).toBe('tractionbattery-stateofcharge');
    expect(codeFromPath('InternalCombustionEngine.FuelLevel')).toBe('internalcombustionengine-fuellevel');
    expect(codeFromPath('closure-islocked')).toBe('closure-islocked');
    expect(codeFromPath('  ')).toBeUndefined();
  });

  it('reads epoch ms from numbers, numeric strings and ISO strings', () => {
    expect(toEpochMs(1758238783185)).toBe(1758238783185);
    expect(toEpochMs('1758238783185')).toBe(1758238783185);
    expect(toEpochMs('2025-09-18T23:39:43.185Z')).toBe(1758238783185);
    expect(toEpochMs('yesterday')).toBeUndefined();
    expect(toEpochMs(null)).toBeUndefined();
    expect(toEpochMs(-5)).toBeUndefined();
  });
});
