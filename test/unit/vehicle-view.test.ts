import { describe, expect, it } from 'vitest';
import { toVehicleView } from '../../lambdas/vehicle-read/read.js';
import {
  EMPTY_STATE,
  encodeState,
  type ErrorState,
  type SignalState,
} from '../../lambdas/vehicles/vehicle-state.js';

const pk = 'VEHICLE#veh-1';
const profile = {
  pk,
  sk: 'PROFILE',
  vehicleId: 'veh-1',
  smartcarUserId: 'user-1',
  make: 'VOLKSWAGEN',
  model: 'ID.4',
  year: 2021,
  updatedAt: 1_000,
};
const soc = {
  pk,
  sk: 'SIGNAL#tractionbattery-stateofcharge',
  code: 'tractionbattery-stateofcharge',
  name: 'StateOfCharge',
  group: 'TractionBattery',
  body: { value: 42, unit: 'percent' },
  status: { value: 'SUCCESS' },
  oemUpdatedAt: 900,
  retrievedAt: 950,
  orderKey: 900,
  eventId: 'e-1',
  updatedAt: 1_000,
};
/** The vehicle's STATE item as the processor writes it. */
function stateItem(
  errors: Record<string, unknown>[],
  signals: Record<string, SignalState> = {},
): Record<string, unknown> {
  const entries = errors.map((error) => [
    `${String(error.type)}#${String(error.code)}`,
    error as unknown as ErrorState,
  ]);
  const updatedAt = Math.max(0, ...errors.map((error) => Number(error.at)));
  return {
    pk,
    sk: 'STATE',
    ...encodeState({ ...EMPTY_STATE, version: 1, updatedAt, signals, errors: Object.fromEntries(entries) }),
  };
}

const permissionError = {
  type: 'PERMISSION',
  code: null,
  description: 'Re-authenticate',
  resolution: { type: 'REAUTHENTICATE' },
  signals: ['closure-islocked'],
  state: 'ERROR',
  at: 1_200,
};

describe('toVehicleView', () => {
  it('returns the documented shape', () => {
    expect(toVehicleView('veh-1', [profile, soc])).toEqual({
      vehicleId: 'veh-1',
      userId: 'user-1',
      appUserId: null,
      smartcarUserId: 'user-1',
      make: 'VOLKSWAGEN',
      model: 'ID.4',
      year: 2021,
      status: 'CONNECTED',
      actionRequired: null,
      subscriptions: [],
      signals: {
        'tractionbattery-stateofcharge': {
          body: { value: 42, unit: 'percent' },
          status: { value: 'SUCCESS' },
          oemUpdatedAt: 900,
          retrievedAt: 950,
        },
      },
      errors: [],
      updatedAt: 1_000,
    });
  });

  it('an active REAUTHENTICATE error makes the vehicle NEEDS_REAUTH and is listed', () => {
    const view = toVehicleView('veh-1', [profile, soc, stateItem([permissionError])]);
    expect(view?.status).toBe('NEEDS_REAUTH');
    expect(view?.errors).toEqual([
      {
        type: 'PERMISSION',
        code: null,
        description: 'Re-authenticate',
        resolution: { type: 'REAUTHENTICATE' },
        signals: ['closure-islocked'],
      },
    ]);
    expect(view?.updatedAt).toBe(1_200);
  });

  it('a RESOLVED tombstone is neither listed nor counted', () => {
    const resolved = { ...permissionError, state: 'RESOLVED', expiresAt: 99 };
    const view = toVehicleView('veh-1', [profile, stateItem([resolved])]);
    expect(view?.status).toBe('CONNECTED');
    expect(view?.errors).toEqual([]);
  });

  it('a CONNECTED_SERVICES_ACCOUNT error without resolution asks for an action, not a re-Connect', () => {
    const account = {
      ...permissionError,
      type: 'CONNECTED_SERVICES_ACCOUNT',
      code: 'SUBSCRIPTION',
      resolution: { type: null },
    };
    const view = toVehicleView('veh-1', [profile, stateItem([account])]);
    expect(view?.status).toBe('CONNECTED');
    expect(view?.actionRequired).toEqual({ type: 'CONNECTED_SERVICES_ACCOUNT', code: 'SUBSCRIPTION' });
    const compatibility = { ...account, type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' };
    expect(
      toVehicleView('veh-1', [{ ...profile, status: 'DISCONNECTED' }, stateItem([compatibility])])?.status,
    ).toBe('DISCONNECTED');
  });

  it('a DISCONNECTED profile wins over an error that asks for re-authentication', () => {
    expect(
      toVehicleView('veh-1', [{ ...profile, status: 'DISCONNECTED' }, stateItem([permissionError])])?.status,
    ).toBe('DISCONNECTED');
    expect(toVehicleView('veh-1', [{ ...profile, status: 'NEEDS_REAUTH' }])?.status).toBe('NEEDS_REAUTH');
  });

  it("includes a signal's last error next to its last good value", () => {
    const failed = {
      ...soc,
      status: { value: 'ERROR', error: { type: 'UPSTREAM', code: 'NO_RESPONSE' } },
      error: { type: 'UPSTREAM', code: 'NO_RESPONSE' },
      errorAt: 1_100,
    };
    expect(toVehicleView('veh-1', [profile, failed])?.signals['tractionbattery-stateofcharge']).toEqual({
      body: { value: 42, unit: 'percent' },
      status: { value: 'ERROR', error: { type: 'UPSTREAM', code: 'NO_RESPONSE' } },
      oemUpdatedAt: 900,
      retrievedAt: 950,
      error: { type: 'UPSTREAM', code: 'NO_RESPONSE' },
      errorAt: 1_100,
    });
  });

  it('a signal that never had a value reads as null body and timestamps', () => {
    const neverRead = {
      pk,
      sk: 'SIGNAL#closure-tailgate',
      code: 'closure-tailgate',
      status: { value: 'ERROR', error: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' } },
      error: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' },
      errorAt: 1_000,
    };
    expect(toVehicleView('veh-1', [profile, neverRead])?.signals['closure-tailgate']).toMatchObject({
      body: null,
      oemUpdatedAt: null,
      retrievedAt: null,
    });
  });

  it('nothing stored → undefined (404); state without a profile still reads', () => {
    expect(toVehicleView('veh-1', [])).toBeUndefined();
    expect(toVehicleView('veh-1', [{ pk, sk: 'EVENT#1#e', raw: '{}' }])).toBeUndefined();
    expect(toVehicleView('veh-1', [soc])).toMatchObject({
      vehicleId: 'veh-1',
      userId: null,
      make: null,
      year: null,
    });
  });

  it('reads the STATE item: its signals win over items of the earlier layout; webhook profile data fills gaps', () => {
    const newer: SignalState = {
      body: { value: 55, unit: 'percent' },
      status: { value: 'SUCCESS' },
      oemUpdatedAt: 2_000,
      retrievedAt: 2_050,
      deliveredAt: 2_100,
      eventId: 'e-2',
      updatedAt: 2_100,
    };
    const state = {
      ...stateItem([permissionError], { 'tractionbattery-stateofcharge': newer }),
      profile: { at: 2_100, make: 'VW', model: 'ID.4', year: 2021, smartcarUserId: 'user-9' },
    };
    const view = toVehicleView('veh-1', [soc, state]);
    expect(view).toMatchObject({
      make: 'VW',
      year: 2021,
      userId: 'user-9',
      smartcarUserId: 'user-9',
      status: 'NEEDS_REAUTH',
      signals: {
        'tractionbattery-stateofcharge': {
          body: { value: 55, unit: 'percent' },
          status: { value: 'SUCCESS' },
          oemUpdatedAt: 2_000,
          retrievedAt: 2_050,
        },
      },
    });
    // Only the documented fields of a signal are shown.
    expect(Object.keys(view?.signals['tractionbattery-stateofcharge'] ?? {}).sort()).toEqual([
      'body',
      'oemUpdatedAt',
      'retrievedAt',
      'status',
    ]);
    expect(view?.updatedAt).toBe(1_200);
    // The PROFILE item, where there is one, wins over what the webhooks said.
    expect(toVehicleView('veh-1', [profile, state])).toMatchObject({ make: 'VOLKSWAGEN', userId: 'user-1' });
  });

  it('a profile linked by Connect shows the app user as userId, next to the Smartcar user', () => {
    const linked = {
      ...profile,
      appUserId: 'app-user-7',
      grantId: 'g-1',
      status: 'CONNECTED',
      connectedAt: 5,
    };
    expect(toVehicleView('veh-1', [linked])).toMatchObject({
      userId: 'app-user-7',
      appUserId: 'app-user-7',
      smartcarUserId: 'user-1',
      status: 'CONNECTED',
    });
    // The grant id is internal: it is not part of the view.
    expect(JSON.stringify(toVehicleView('veh-1', [linked]))).not.toContain('g-1');
  });
});
