import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../../local/stand-ins/secrets-manager.js';
import { freePort } from '../support/ports.js';

const NAME = 'smartcar-local/smartcar-app';
const VALUE = JSON.stringify({
  clientId: 'cid',
  clientSecret: 'csecret',
  managementToken: 'amt',
  previousManagementToken: 'old-amt',
});

let fake: SecretsManagerFake;

beforeAll(async () => {
  fake = await startSecretsManagerFake({ port: await freePort(), secrets: [{ name: NAME, value: VALUE }] });
});

afterAll(async () => {
  await fake?.stop();
});

const client = (config: ConstructorParameters<typeof SecretsManagerClient>[0] = {}) =>
  new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    ...config,
  });

describe('Secrets Manager fake', () => {
  it('serves GetSecretValue by name to the real SDK client', async () => {
    const sm = client({ endpoint: fake.endpoint });
    const result = await sm.send(new GetSecretValueCommand({ SecretId: NAME }));
    expect(result.Name).toBe(NAME);
    expect(result.ARN).toBe(fake.arnOf(NAME));
    expect(result.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:smartcar-local\/smartcar-app-\w{6}$/,
    );
    expect(result.SecretString).toBe(VALUE);
    expect(result.VersionStages).toEqual(['AWSCURRENT']);
    expect(result.VersionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.CreatedDate).toBeInstanceOf(Date);
    sm.destroy();
  });

  it('finds the secret by full and by partial ARN', async () => {
    const sm = client({ endpoint: fake.endpoint });
    const arn = fake.arnOf(NAME);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(VALUE);
    const partial = arn.slice(0, -7);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: partial }))).Name).toBe(NAME);
    sm.destroy();
  });

  it('answers an unknown id with ResourceNotFoundException (400)', async () => {
    const sm = client({ endpoint: fake.endpoint });
    const error: unknown = await sm
      .send(new GetSecretValueCommand({ SecretId: 'nope' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect((error as ResourceNotFoundException).$metadata.httpStatusCode).toBe(400);
    expect((error as ResourceNotFoundException).message).toContain("can't find the specified secret");
    sm.destroy();
  });

  it('rejects an unknown version stage like AWS', async () => {
    const sm = client({ endpoint: fake.endpoint });
    const call = sm.send(new GetSecretValueCommand({ SecretId: NAME, VersionStage: 'AWSPENDING' }));
    await expect(call).rejects.toBeInstanceOf(ResourceNotFoundException);
    sm.destroy();
  });

  it('serves DescribeSecret', async () => {
    const sm = client({ endpoint: fake.endpoint });
    const result = await sm.send(new DescribeSecretCommand({ SecretId: NAME }));
    expect(result.ARN).toBe(fake.arnOf(NAME));
    expect(result.Name).toBe(NAME);
    expect(Object.values(result.VersionIdsToStages ?? {})).toEqual([['AWSCURRENT']]);
    sm.destroy();
  });

  it('is reached through AWS_ENDPOINT_URL_SECRETS_MANAGER by a client built like the Lambdas build it', async () => {
    const saved = { ...process.env };
    try {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = fake.endpoint;
      process.env.AWS_REGION = 'us-east-1';
      process.env.AWS_ACCESS_KEY_ID = 'local';
      process.env.AWS_SECRET_ACCESS_KEY = 'local';
      delete process.env.AWS_PROFILE;
      const sm = new SecretsManagerClient({ maxAttempts: 1 });
      // The handlers read the secret through Powertools Parameters (lambdas/smartcar/secret.ts).
      const secret = await smartcarSecretSource(fake.arnOf(NAME), sm).get();
      expect(secret).toEqual({
        clientId: 'cid',
        clientSecret: 'csecret',
        managementToken: 'amt',
        previousManagementToken: 'old-amt',
      });
      sm.destroy();
    } finally {
      process.env = saved;
    }
  });

  it('answers an unsupported operation with an AWS-style error', async () => {
    const response = await fetch(fake.endpoint, {
      method: 'POST',
      headers: {
        'x-amz-target': 'secretsmanager.PutSecretValue',
        'content-type': 'application/x-amz-json-1.1',
      },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});
