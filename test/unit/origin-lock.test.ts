import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { secretOriginLock } from '../../lambdas/edge/origin-lock.js';

/** The edge front's origin lock: the value CloudFront sends, checked against the generated secret. */

const secrets = mockClient(SecretsManagerClient);
const VALUE = 'k3Jd8sPq0ZxV7mNc2RtY5wLb9HfA4eGu6iOo1TyUaSdFgHjK';
afterEach(() => secrets.reset());

const lock = (id = `origin-${Math.random()}`) => secretOriginLock(id, new SecretsManagerClient({}));

describe('origin lock', () => {
  it('admits the exact value and refuses any other, a prefix, or none', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: VALUE });
    const origin = lock();
    expect(await origin.admits(VALUE)).toBe(true);
    expect(await origin.admits(VALUE.slice(0, -1))).toBe(false);
    expect(await origin.admits(`${VALUE}x`)).toBe(false);
    expect(await origin.admits('')).toBe(false);
    expect(await origin.admits(undefined)).toBe(false);
  });

  it('reads the secret once per container and cache period, not per request', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: VALUE });
    const origin = lock();
    for (let i = 0; i < 5; i++) await origin.admits(VALUE);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('fails (so the caller answers 5xx) when the secret cannot be read or holds no usable value', async () => {
    secrets.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    await expect(lock().admits(VALUE)).rejects.toThrow();
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'short' });
    await expect(lock().admits('short')).rejects.toThrow(/no usable value/);
  });
});
