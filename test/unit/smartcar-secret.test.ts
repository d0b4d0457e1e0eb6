import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { smartcarSecretSource } from '../../lambdas/smartcar/secret.js';

const client = new SecretsManagerClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const secrets = mockClient(client);

describe('smartcarSecretSource', () => {
  it('validates a fetched secret once: while it is cached, every request gets the same checked value', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ clientId: 'c', clientSecret: 's', managementToken: 'amt' }),
    });
    const source = smartcarSecretSource(`secret-${Math.random()}`, client);
    const first = await source.get();
    expect(first).toEqual({ clientId: 'c', clientSecret: 's', managementToken: 'amt' });
    // A new validation would build a new object; the cached one is handed out as it is.
    expect(await source.get()).toBe(first);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('names the malformed fields, never their values', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ clientId: 'c', clientSecret: '', managementToken: 'amt-value' }),
    });
    const source = smartcarSecretSource(`secret-${Math.random()}`, client);
    await expect(source.get()).rejects.toThrow(/malformed \(fields: clientSecret\)/);
    await expect(source.get()).rejects.not.toThrow(/amt-value/);
  });
});
