import { describe, expect, it } from 'vitest';
import { loadCallbackConfig } from '../../lambdas/oauth-callback/config.js';
import { loadConnectConfig } from '../../lambdas/oauth-connect/config.js';
import { loadDisconnectConfig } from '../../lambdas/vehicle-disconnect/config.js';

const callbackEnv = {
  OAUTH_STATE_TABLE_NAME: 'states',
  TOKEN_TABLE_NAME: 'tokens',
  TOKEN_KEY_ID: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
  VEHICLE_TABLE_NAME: 'vehicles',
  SMARTCAR_SECRET_ID: 'smartcar/app',
  SMARTCAR_REDIRECT_URI: 'https://api.example.com/oauth/callback',
  CONNECT_SUCCESS_URL: 'https://app.example.com/connected?src=sc',
  CONNECT_FAILURE_URL: 'https://app.example.com/failed',
};

const connectEnv = {
  OAUTH_STATE_TABLE_NAME: 'states',
  SMARTCAR_SECRET_ID: 'smartcar/app',
  SMARTCAR_REDIRECT_URI: 'https://api.example.com/oauth/callback',
  SMARTCAR_DEFAULT_SCOPES: 'read_vehicle_info,read_odometer',
};

describe('callback configuration', () => {
  it('defaults to https-only URLs and a 5 s Smartcar timeout', () => {
    expect(loadCallbackConfig(callbackEnv)).toMatchObject({
      REQUIRE_HTTPS_URLS: true,
      SMARTCAR_TIMEOUT_MS: 5_000,
    });
  });

  it.each(['SMARTCAR_REDIRECT_URI', 'CONNECT_SUCCESS_URL', 'CONNECT_FAILURE_URL'])(
    'refuses an http: %s unless REQUIRE_HTTPS_URLS=false',
    (name) => {
      const env = { ...callbackEnv, [name]: 'http://127.0.0.1:3000/x' };
      expect(() => loadCallbackConfig(env)).toThrow(new RegExp(`${name}: must be https:`));
      expect(loadCallbackConfig({ ...env, REQUIRE_HTTPS_URLS: 'false' })[name as keyof typeof env]).toBe(
        'http://127.0.0.1:3000/x',
      );
    },
  );

  it.each([
    ['a relative URL', '/connected'],
    ['another scheme', 'javascript:alert(1)'],
    ['credentials', 'https://user:pw@app.example.com/'],
    ['a fragment', 'https://app.example.com/#done'],
    ['an empty value', ''],
  ])('refuses %s as success URL, naming the variable but not the value', (_label, value) => {
    let message = '';
    try {
      loadCallbackConfig({ ...callbackEnv, CONNECT_SUCCESS_URL: value, REQUIRE_HTTPS_URLS: 'false' });
    } catch (error) {
      message = String(error);
    }
    expect(message).toContain('CONNECT_SUCCESS_URL');
    if (value !== '') expect(message).not.toContain(value);
  });

  it('refuses a REQUIRE_HTTPS_URLS that is not true/false and missing variables', () => {
    expect(() => loadCallbackConfig({ ...callbackEnv, REQUIRE_HTTPS_URLS: 'yes' })).toThrow(
      /REQUIRE_HTTPS_URLS/,
    );
    expect(() => loadCallbackConfig({ ...callbackEnv, TOKEN_KEY_ID: undefined })).toThrow(/TOKEN_KEY_ID/);
  });
});

describe('connect configuration', () => {
  it('parses the default scopes and the mode', () => {
    expect(loadConnectConfig({ ...connectEnv, SMARTCAR_MODE: 'test' })).toMatchObject({
      SMARTCAR_MODE: 'test',
      SMARTCAR_DEFAULT_SCOPES: ['read_vehicle_info', 'read_odometer'],
    });
    // Unset: no scope parameter, Connect uses the Dashboard's Vehicle Access configuration.
    expect(loadConnectConfig({ ...connectEnv, SMARTCAR_DEFAULT_SCOPES: undefined })).toMatchObject({
      SMARTCAR_MODE: 'live',
      SMARTCAR_DEFAULT_SCOPES: [],
    });
  });

  it('refuses unknown default scopes, unknown modes and an http redirect URI', () => {
    expect(() => loadConnectConfig({ ...connectEnv, SMARTCAR_DEFAULT_SCOPES: 'read_vin,teleport' })).toThrow(
      /SMARTCAR_DEFAULT_SCOPES: unknown permissions: teleport/,
    );
    expect(() => loadConnectConfig({ ...connectEnv, SMARTCAR_MODE: 'sandbox' })).toThrow(/SMARTCAR_MODE/);
    expect(() => loadConnectConfig({ ...connectEnv, SMARTCAR_REDIRECT_URI: 'http://x.example/cb' })).toThrow(
      /SMARTCAR_REDIRECT_URI/,
    );
  });
});

describe('disconnect configuration', () => {
  it("defaults to Smartcar's management origin", () => {
    expect(
      loadDisconnectConfig({ VEHICLE_TABLE_NAME: 'v', TOKEN_TABLE_NAME: 't', SMARTCAR_SECRET_ID: 's' }),
    ).toMatchObject({
      SMARTCAR_MANAGEMENT_API_ORIGIN: 'https://management.smartcar.com',
      SMARTCAR_TIMEOUT_MS: 5_000,
    });
  });
});
