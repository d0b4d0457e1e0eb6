import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SECRET_PLACEHOLDER } from '../../lib/constructs/smartcar-secret.js';
import { createCallbackHandler } from '../../lambdas/oauth-callback/create-handler.js';
import { createConnectHandler } from '../../lambdas/oauth-connect/create-handler.js';
import { dynamoOAuthStateStore } from '../../lambdas/oauth/dynamo-oauth-state.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import {
  SecretNotConfiguredError,
  smartcarSecretSource,
  type SmartcarSecretSource,
} from '../../lambdas/smartcar/secret.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import type { VehicleLinkStore } from '../../lambdas/vehicles/vehicle-links.js';
import { httpEvent, invoke, type HttpHandler } from '../support/api-gateway-events.js';
import { captureOutput } from '../support/output.js';

/**
 * The secret the stack creates holds a public placeholder until the operator puts the real values. Every
 * Lambda that reads it must fail closed on it: the tests drive the real secret source (Secrets Manager mocked)
 * into the OAuth handlers.
 */

const aws = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
const secretsClient = new SecretsManagerClient(aws);
const secretsMock = mockClient(secretsClient);
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient(aws));
const dynamoMock = mockClient(documentClient);
const logs: string[] = [];

/** What the stack's SmartcarSecret construct generates at creation. */
const CREATED_SECRET = JSON.stringify({
  clientId: SECRET_PLACEHOLDER,
  clientSecret: SECRET_PLACEHOLDER,
  managementToken: SECRET_PLACEHOLDER,
  placeholderNonce: 'AbCdEf0123456789',
});

let source: SmartcarSecretSource;

beforeAll(() => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('SMARTCAR_API_ORIGIN', '');
  captureOutput(logs);
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

beforeEach(() => {
  secretsMock.reset();
  dynamoMock.reset();
  dynamoMock.onAnyCommand().rejects(new Error('DynamoDB must not be called'));
  logs.length = 0;
  // A new source per test: Powertools caches per provider instance.
  source = smartcarSecretSource(`smartcar/app-${Math.random()}`, secretsClient);
});

const putSecret = (secretString: string) =>
  secretsMock.on(GetSecretValueCommand).resolves({ SecretString: secretString, Name: 'smartcar/app' });

describe('the Smartcar secret source', () => {
  it('refuses the placeholder the stack creates, naming the fields and never a value', async () => {
    putSecret(CREATED_SECRET);
    const error = await source.get().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretNotConfiguredError);
    expect((error as SecretNotConfiguredError).fields).toEqual([
      'clientId',
      'clientSecret',
      'managementToken',
    ]);
  });

  it('refuses a secret where only the management token was left as the placeholder', async () => {
    putSecret(
      JSON.stringify({ clientId: 'real', clientSecret: 'real-secret', managementToken: 'REPLACE_ME' }),
    );
    await expect(source.get()).rejects.toMatchObject({ fields: ['managementToken'] });
  });

  it('returns real values once they are put', async () => {
    putSecret(JSON.stringify({ clientId: 'real', clientSecret: 'real-secret', managementToken: 'amt-1' }));
    await expect(source.get()).resolves.toMatchObject({ managementToken: 'amt-1' });
  });
});

describe('the OAuth routes with the placeholder secret', () => {
  beforeEach(() => putSecret(CREATED_SECRET));

  it('POST /connect answers 503 not_configured and stores no state', async () => {
    const handler = createConnectHandler({
      states: dynamoOAuthStateStore(documentClient, 'states'),
      smartcar: smartcarGateway({ secret: source, redirectUri: 'https://api.example.com/oauth/callback' }),
      defaultScopes: ['read_vehicle_info'],
      mode: 'live',
      logger: new Logger({ serviceName: 'oauth-connect' }),
    }) as unknown as HttpHandler;
    const answer = await invoke(
      handler,
      httpEvent({ routeKey: 'POST /connect', body: JSON.stringify({ userId: 'alice' }) }),
    );
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('not_configured');
    expect(dynamoMock.calls()).toHaveLength(0);
  });

  it('GET /oauth/callback answers 503 before spending the state, and counts the unset secret', async () => {
    const unused = () => Promise.reject(new Error('must not be called'));
    const handler = createCallbackHandler({
      states: dynamoOAuthStateStore(documentClient, 'states'),
      smartcar: smartcarGateway({ secret: source, redirectUri: 'https://api.example.com/oauth/callback' }),
      secret: source,
      tokens: { put: unused } as unknown as TokenStore,
      links: {} as VehicleLinkStore,
      successUrl: 'https://app.example.com/ok',
      failureUrl: 'https://app.example.com/failed',
      smartcarTimeoutMs: 5_000,
      logger: new Logger({ serviceName: 'oauth-callback' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'oauth-callback' }),
    }) as unknown as HttpHandler;
    const answer = await invoke(
      handler,
      httpEvent({ routeKey: 'GET /oauth/callback', query: { code: 'c', state: 's'.repeat(43) } }),
    );
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('not_configured');
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(logs.join('')).toContain('"SmartcarSecretNotConfigured"');
  });
});
