import { describe, expect, it } from 'vitest';
import { parseWebhook } from '../../lambdas/webhook-processor/parse.js';
import type { VehicleErrorEvent } from '../../lambdas/webhook-processor/event.js';
import { usedSignalGroups } from '../../lambdas/vehicles/used-signals.js';
import { vehicleStatus, type StatusRelevantError } from '../../lambdas/vehicles/vehicle-status.js';
import { readCapture } from '../support/webhook-fixtures.js';

/** The rules of docs/design.md "Truthful vehicle status", on real captures and Smartcar's documented errors. */

function errorsOf(file: string): StatusRelevantError[] {
  const event = parseWebhook(readCapture(file)) as VehicleErrorEvent;
  return event.errors.map((error) => ({ ...error, at: 1_000 }));
}

const APP_PERMISSIONS = ['read_vehicle_info', 'read_odometer', 'read_battery'];

/** A CONNECTED_SERVICES_ACCOUNT error as Smartcar documents it (errors/api-errors/connected-services-account-errors). */
function account(code: string, resolution: { type: string | null; url?: string }, signals: string[] = []) {
  return {
    type: 'CONNECTED_SERVICES_ACCOUNT',
    code,
    state: 'ERROR',
    resolution,
    signals,
    suggestedUserMessage: `message for ${code}`,
    at: 1_000,
  };
}

describe('vehicle status and actionRequired', () => {
  it('vw_id_4_broad_auth_error (PERMISSION, REAUTHENTICATE, no signals): NEEDS_REAUTH, whatever the grant', () => {
    const errors = errorsOf('vw_id_4_broad_auth_error.json');
    expect(vehicleStatus({}, errors)).toEqual({ status: 'NEEDS_REAUTH', actionRequired: null });
    expect(vehicleStatus({ permissions: APP_PERMISSIONS }, errors).status).toBe('NEEDS_REAUTH');
  });

  it('vw_id_4_irrelevant_auth_error (only VehicleUserAccount signals): CONNECTED for a grant without read_user_profile', () => {
    const errors = errorsOf('vw_id_4_irrelevant_auth_error.json');
    expect(vehicleStatus({ status: 'CONNECTED', permissions: APP_PERMISSIONS }, errors)).toEqual({
      status: 'CONNECTED',
      actionRequired: null,
    });
    // The app reads those signals: then it does need a re-Connect.
    expect(vehicleStatus({ permissions: [...APP_PERMISSIONS, 'read_user_profile'] }, errors).status).toBe(
      'NEEDS_REAUTH',
    );
    // No grant (a vehicle known only from webhooks): every signal counts.
    expect(vehicleStatus({}, errors).status).toBe('NEEDS_REAUTH');
    // Configuration wins over the grant's default.
    expect(
      vehicleStatus({ permissions: APP_PERMISSIONS }, errors, {
        usedSignalGroups: new Set(['vehicleuseraccount']),
      }).status,
    ).toBe('NEEDS_REAUTH');
  });

  it('a failure of the connection itself is NEEDS_REAUTH whatever signals it names', () => {
    const failed = account('AUTHENTICATION_FAILED', { type: 'REAUTHENTICATE' }, ['vehicleuseraccount-role']);
    expect(vehicleStatus({ permissions: APP_PERMISSIONS }, [failed]).status).toBe('NEEDS_REAUTH');
    const authentication = { type: 'AUTHENTICATION', code: null, state: 'ERROR', signals: ['x-y'] };
    expect(vehicleStatus({ permissions: APP_PERMISSIONS }, [authentication]).status).toBe('NEEDS_REAUTH');
  });

  it.each(['ACCOUNT_ISSUE', 'SUBSCRIPTION', 'VEHICLE_MISSING'])(
    '%s (no resolution) is an action in the brand’s account, not a re-Connect',
    (code) => {
      expect(vehicleStatus({}, [account(code, { type: null })])).toEqual({
        status: 'CONNECTED',
        actionRequired: {
          type: 'CONNECTED_SERVICES_ACCOUNT',
          code,
          suggestedUserMessage: `message for ${code}`,
        },
      });
    },
  );

  it('VIRTUAL_KEY_REQUIRED carries the URL Smartcar gives; RESOLVED clears it', () => {
    const key = account('VIRTUAL_KEY_REQUIRED', {
      type: 'ACTION_REQUIRED',
      url: 'https://www.tesla.com/_ak/smartcar.com',
    });
    expect(vehicleStatus({}, [key]).actionRequired).toEqual({
      type: 'CONNECTED_SERVICES_ACCOUNT',
      code: 'VIRTUAL_KEY_REQUIRED',
      resolution: { type: 'ACTION_REQUIRED', url: 'https://www.tesla.com/_ak/smartcar.com' },
      suggestedUserMessage: 'message for VIRTUAL_KEY_REQUIRED',
    });
    expect(vehicleStatus({}, [{ ...key, state: 'RESOLVED' }]).actionRequired).toBeNull();
  });

  it('an action on an unused signal changes nothing', () => {
    const onUnused = account('VIRTUAL_KEY_REQUIRED', { type: 'ACTION_REQUIRED' }, ['closure-islocked']);
    expect(vehicleStatus({ permissions: APP_PERMISSIONS }, [onUnused]).actionRequired).toBeNull();
    expect(vehicleStatus({ permissions: ['read_security'] }, [onUnused]).actionRequired).not.toBeNull();
  });

  it('a re-Connect after a re-auth error resolves it; a later one still counts', () => {
    const errors = errorsOf('vw_id_4_broad_auth_error.json');
    expect(vehicleStatus({ status: 'CONNECTED', connectedAt: 2_000 }, errors).status).toBe('CONNECTED');
    expect(vehicleStatus({ status: 'CONNECTED', connectedAt: 500 }, errors).status).toBe('NEEDS_REAUTH');
    // The refresh job's NEEDS_REAUTH on the profile stands until the re-Connect rewrites the profile.
    expect(vehicleStatus({ status: 'NEEDS_REAUTH' }, []).status).toBe('NEEDS_REAUTH');
  });

  it('DISCONNECTED wins over everything', () => {
    expect(vehicleStatus({ status: 'DISCONNECTED' }, errorsOf('vw_id_4_broad_auth_error.json'))).toEqual({
      status: 'DISCONNECTED',
      actionRequired: null,
    });
  });

  it('maps permissions to signal groups; unknown permissions (Dashboard defaults) mean every signal counts', () => {
    expect(usedSignalGroups(['required:read_odometer', 'read_battery'])).toEqual(
      new Set(['odometer', 'tractionbattery', 'lowvoltagebattery']),
    );
    expect(usedSignalGroups([])).toBeUndefined();
    expect(usedSignalGroups(undefined)).toBeUndefined();
  });
});
