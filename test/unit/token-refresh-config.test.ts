import { describe, expect, it } from 'vitest';
import { loadRefreshConfig } from '../../lambdas/token-refresh/config.js';

/** The refresh Lambda's environment (docs/design.md, "Scheduled token refresh" → "Environment"). */

const required = {
  TOKEN_TABLE_NAME: 'tokens',
  TOKEN_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/abc',
  VEHICLE_TABLE_NAME: 'vehicles',
  SMARTCAR_SECRET_ID: 'smartcar',
  SMARTCAR_REDIRECT_URI: 'https://api.example.com/oauth/callback',
  TOKEN_RECOVERY_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/111122223333/token-recovery',
};

describe('token refresh config', () => {
  it('has the documented defaults', () => {
    expect(loadRefreshConfig(required)).toEqual({
      ...required,
      SMARTCAR_TIMEOUT_MS: 5_000,
      REFRESH_WINDOW_DAYS: 7,
      ACCESS_WARM_WINDOW_MINUTES: 0,
      REFRESH_CONCURRENCY: 10,
      REFRESH_LEASE_SECONDS: 60,
    });
  });

  it('reads the tunables', () => {
    expect(
      loadRefreshConfig({
        ...required,
        REFRESH_WINDOW_DAYS: '10',
        ACCESS_WARM_WINDOW_MINUTES: '30',
        REFRESH_CONCURRENCY: '4',
        REFRESH_LEASE_SECONDS: '45',
        SMARTCAR_TIMEOUT_MS: '8000',
      }),
    ).toMatchObject({
      REFRESH_WINDOW_DAYS: 10,
      ACCESS_WARM_WINDOW_MINUTES: 30,
      REFRESH_CONCURRENCY: 4,
      REFRESH_LEASE_SECONDS: 45,
      SMARTCAR_TIMEOUT_MS: 8_000,
    });
  });

  it('fails the cold start on a missing or unusable value, naming the variable only', () => {
    expect(() => loadRefreshConfig({ ...required, TOKEN_KEY_ID: '' })).toThrow(/TOKEN_KEY_ID/);
    for (const [name, value] of [
      ['REFRESH_WINDOW_DAYS', '0'],
      ['REFRESH_WINDOW_DAYS', '60'],
      ['REFRESH_CONCURRENCY', '0'],
      ['REFRESH_CONCURRENCY', 'ten'],
      ['REFRESH_LEASE_SECONDS', '5'],
      ['ACCESS_WARM_WINDOW_MINUTES', '-1'],
      ['SMARTCAR_REDIRECT_URI', 'not a url'],
    ] as const) {
      expect(() => loadRefreshConfig({ ...required, [name]: value })).toThrow(new RegExp(name));
    }
    expect(() => loadRefreshConfig({ ...required, TOKEN_TABLE_NAME: undefined })).toThrow(/TOKEN_TABLE_NAME/);
  });
});
