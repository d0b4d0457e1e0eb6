import { describe, expect, it } from 'vitest';
import {
  checkScopes,
  isKnownScope,
  SMARTCAR_PERMISSIONS,
  splitScopeList,
} from '../../lambdas/oauth/scopes.js';

describe('Smartcar scopes', () => {
  it('knows the documented read and control permissions, including the newer ones', () => {
    for (const name of [
      'read_vehicle_info',
      'read_vin',
      'control_charge',
      'control_pin',
      'read_alerts',
      'read_charge_events',
      'read_charge_locations',
      'read_diagnostics',
      'read_service_history',
    ]) {
      expect(isKnownScope(name)).toBe(true);
    }
    expect(SMARTCAR_PERMISSIONS).toHaveLength(28);
    expect(new Set(SMARTCAR_PERMISSIONS).size).toBe(SMARTCAR_PERMISSIONS.length);
  });

  it('accepts the required: prefix and rejects anything else', () => {
    expect(isKnownScope('required:read_odometer')).toBe(true);
    for (const name of ['drive_car', 'READ_VIN', 'read_vin ', 'required:', 'optional:read_vin', '']) {
      expect(isKnownScope(name)).toBe(false);
    }
  });

  it('checkScopes deduplicates in order, or names every unknown scope once', () => {
    expect(checkScopes(['read_vin', 'read_battery', 'read_vin'])).toEqual({
      ok: true,
      scopes: ['read_vin', 'read_battery'],
    });
    expect(checkScopes(['read_vin', 'fly', 'swim', 'fly'])).toEqual({ ok: false, unknown: ['fly', 'swim'] });
  });

  it('splitScopeList takes commas and/or whitespace', () => {
    expect(splitScopeList(' read_vin, read_odometer ,,read_battery\tread_fuel')).toEqual([
      'read_vin',
      'read_odometer',
      'read_battery',
      'read_fuel',
    ]);
    expect(splitScopeList('')).toEqual([]);
  });
});
