import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, configTableMarkdown, loadLocalConfig } from '../../local/config.js';
import { lambdaEnvironment, applyLambdaEnvironment, NO_LOCAL_ENDPOINT } from '../../local/lambda-env.js';

describe('local config', () => {
  it('has working defaults for a bare `npm start`', () => {
    const config = loadLocalConfig({}, '/repo');
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      dynamoDbPort: 8000,
      sqsPort: 9324,
      secretsPort: 4584,
      dataDir: '/repo/.local',
      region: 'us-east-1',
      testEvents: 'separate',
      functionTimeoutSeconds: undefined,
      queue: { visibilityTimeoutSeconds: 30, maxReceiveCount: 5, batchSize: 10, batchWindowMs: 0 },
      smartcar: {
        clientId: 'local-client-id',
        clientSecret: 'local-client-secret',
        managementToken: 'local-management-token',
        previousManagementToken: undefined,
        redirectUri: 'http://127.0.0.1:3000/oauth/callback',
        mode: 'simulated',
      },
    });
  });

  it('reads overrides and derives the redirect URI from PORT', () => {
    const config = loadLocalConfig(
      {
        PORT: '4100',
        LOCAL_DATA_DIR: '/tmp/state',
        LOCAL_VISIBILITY_TIMEOUT_SECONDS: '1',
        LOCAL_MAX_RECEIVE_COUNT: '2',
        SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN: 'old',
        SMARTCAR_MODE: 'live',
        TEST_EVENTS: 'skip',
      },
      '/repo',
    );
    expect(config.port).toBe(4100);
    expect(config.dataDir).toBe('/tmp/state');
    expect(config.queue.visibilityTimeoutSeconds).toBe(1);
    expect(config.queue.maxReceiveCount).toBe(2);
    expect(config.smartcar.previousManagementToken).toBe('old');
    expect(config.smartcar.redirectUri).toBe('http://127.0.0.1:4100/oauth/callback');
    expect(config.smartcar.mode).toBe('live');
    expect(config.testEvents).toBe('skip');
  });

  it('treats an empty optional variable as unset', () => {
    expect(
      loadLocalConfig({ SMARTCAR_PREVIOUS_MANAGEMENT_TOKEN: '' }).smartcar.previousManagementToken,
    ).toBeUndefined();
  });

  it('rejects bad values naming the variable', () => {
    expect(() => loadLocalConfig({ PORT: 'http' })).toThrow(/PORT/);
    expect(() => loadLocalConfig({ SMARTCAR_MODE: 'prod' })).toThrow(/SMARTCAR_MODE/);
    expect(() => loadLocalConfig({ LOCAL_VISIBILITY_TIMEOUT_SECONDS: '0' })).toThrow(
      /LOCAL_VISIBILITY_TIMEOUT_SECONDS/,
    );
    expect(() => loadLocalConfig({ SMARTCAR_REDIRECT_URI: 'not a url' })).toThrow(/SMARTCAR_REDIRECT_URI/);
  });

  it('documents every variable it reads', () => {
    const documented = CONFIG_VARIABLES.map((v) => v.name);
    expect(new Set(documented).size).toBe(documented.length);
    expect(configTableMarkdown().split('\n')).toHaveLength(documented.length + 2);
  });
});

describe('Lambda environment', () => {
  const resources = {
    dynamoDbEndpoint: 'http://127.0.0.1:8000',
    sqsEndpoint: 'http://127.0.0.1:9324',
    secretsManagerEndpoint: 'http://127.0.0.1:4584',
    queueUrl: 'http://127.0.0.1:9324/000000000000/q',
    secretId: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf',
    vehicleTableName: 'vehicles',
    idempotencyTableName: 'idempotency',
  };

  it('points every SDK client at a local endpoint, with dummy credentials', () => {
    const env = lambdaEnvironment(loadLocalConfig({}), resources, {});
    expect(env).toMatchObject({
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL: NO_LOCAL_ENDPOINT,
      AWS_ENDPOINT_URL_DYNAMODB: resources.dynamoDbEndpoint,
      AWS_ENDPOINT_URL_SQS: resources.sqsEndpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: resources.secretsManagerEndpoint,
      QUEUE_URL: resources.queueUrl,
      SMARTCAR_SECRET_ID: resources.secretId,
      VEHICLE_TABLE_NAME: 'vehicles',
      IDEMPOTENCY_TABLE_NAME: 'idempotency',
      TEST_EVENTS: 'separate',
      MAX_BODY_BYTES: '131072',
      DEDUPE_TTL_SECONDS: '1209600',
    });
    expect(lambdaEnvironment(loadLocalConfig({}), resources, { MAX_BODY_BYTES: '2048' }).MAX_BODY_BYTES).toBe(
      '2048',
    );
  });

  it('removes shell credentials and the Smartcar secrets from the handlers’ environment', () => {
    const target: NodeJS.ProcessEnv = {
      AWS_PROFILE: 'prod',
      AWS_SESSION_TOKEN: 'token',
      SMARTCAR_MANAGEMENT_TOKEN: 'amt',
      MAX_BODY_BYTES: '1000',
    };
    applyLambdaEnvironment({ AWS_REGION: 'us-east-1' }, target);
    expect(target).toEqual({ MAX_BODY_BYTES: '1000', AWS_REGION: 'us-east-1' });
  });
});
