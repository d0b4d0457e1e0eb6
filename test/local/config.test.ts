import { describe, expect, it } from 'vitest';
import {
  CONFIG_VARIABLES,
  configTableMarkdown,
  LOCAL_DEFAULT_SCOPES,
  loadLocalConfig,
  parseLocalArgs,
} from '../../local/config.js';
import {
  lambdaEnvironment,
  applyLambdaEnvironment,
  NO_LOCAL_ENDPOINT,
} from '../../local/runtime/lambda-env.js';

describe('local config', () => {
  it('has working defaults for a bare `npm start`', () => {
    const config = loadLocalConfig({}, '/repo');
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      dynamoDbPort: 8000,
      sqsPort: 9324,
      secretsPort: 4584,
      kmsPort: 4599,
      fakeSmartcar: { enabled: false, port: 4010, source: undefined },
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
        defaultScopes: 'read_vehicle_info,read_odometer',
        connectSuccessUrl: 'http://127.0.0.1:3000/local/connected',
        connectFailureUrl: 'http://127.0.0.1:3000/local/connect-failed',
      },
    });
    expect(LOCAL_DEFAULT_SCOPES).toBe('read_vehicle_info,read_odometer');
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
    expect(config.smartcar.connectSuccessUrl).toBe('http://127.0.0.1:4100/local/connected');
    expect(config.smartcar.connectFailureUrl).toBe('http://127.0.0.1:4100/local/connect-failed');
    expect(config.smartcar.mode).toBe('live');
    expect(config.testEvents).toBe('skip');
  });

  it('reads the OAuth settings', () => {
    const config = loadLocalConfig({
      LOCAL_KMS_PORT: '4700',
      LOCAL_FAKE_SMARTCAR_PORT: '4111',
      SMARTCAR_DEFAULT_SCOPES: 'read_vin',
      CONNECT_SUCCESS_URL: 'http://localhost:5173/done',
      CONNECT_FAILURE_URL: 'http://localhost:5173/failed?from=smartcar',
    });
    expect(config.kmsPort).toBe(4700);
    expect(config.fakeSmartcar.port).toBe(4111);
    expect(config.smartcar.defaultScopes).toBe('read_vin');
    expect(config.smartcar.connectSuccessUrl).toBe('http://localhost:5173/done');
    expect(config.smartcar.connectFailureUrl).toBe('http://localhost:5173/failed?from=smartcar');
    // Set but empty: no scope in the Connect URL (Smartcar then uses the Dashboard's Vehicle Access).
    expect(loadLocalConfig({ SMARTCAR_DEFAULT_SCOPES: '' }).smartcar.defaultScopes).toBe('');
    expect(() => loadLocalConfig({ CONNECT_SUCCESS_URL: 'nope' })).toThrow(/CONNECT_SUCCESS_URL/);
    expect(() => loadLocalConfig({ LOCAL_KMS_PORT: '0' })).toThrow(/LOCAL_KMS_PORT/);
  });

  describe('the fake Smartcar switch', () => {
    const enabled = (env: NodeJS.ProcessEnv, argv: string[] = []) =>
      loadLocalConfig(env, '/repo', argv).fakeSmartcar.enabled;

    it('is off by default', () => {
      expect(enabled({})).toBe(false);
    });

    it('is on with `npm start -- --fake-smartcar` (an argument of the script)', () => {
      expect(enabled({}, ['--fake-smartcar'])).toBe(true);
      // The command line wins over a variable saying otherwise.
      expect(enabled({ LOCAL_FAKE_SMARTCAR: 'false' }, ['--fake-smartcar'])).toBe(true);
    });

    it('is on with LOCAL_FAKE_SMARTCAR=true (or 1), any case', () => {
      expect(enabled({ LOCAL_FAKE_SMARTCAR: 'true' })).toBe(true);
      expect(enabled({ LOCAL_FAKE_SMARTCAR: 'TRUE' })).toBe(true);
      expect(enabled({ LOCAL_FAKE_SMARTCAR: '1' })).toBe(true);
      expect(enabled({ LOCAL_FAKE_SMARTCAR: 'false' })).toBe(false);
      expect(enabled({ LOCAL_FAKE_SMARTCAR: '' })).toBe(false);
    });

    it('is on with `npm start --fake-smartcar`, which npm 11 turns into npm_config_fake_smartcar=true', () => {
      expect(enabled({ npm_config_fake_smartcar: 'true' })).toBe(true);
      // `npm start --fake-smartcar=false` arrives as an empty value.
      expect(enabled({ npm_config_fake_smartcar: '' })).toBe(false);
      // An explicit LOCAL_FAKE_SMARTCAR wins over npm's (which may also come from an .npmrc).
      expect(enabled({ npm_config_fake_smartcar: 'true', LOCAL_FAKE_SMARTCAR: 'false' })).toBe(false);
    });

    it('records what switched it, for the banner', () => {
      const source = (env: NodeJS.ProcessEnv, argv: string[] = []) =>
        loadLocalConfig(env, '/repo', argv).fakeSmartcar.source;
      expect(source({})).toBeUndefined();
      expect(source({ npm_config_fake_smartcar: 'true' }, ['--fake-smartcar'])).toBe('argument');
      expect(source({ LOCAL_FAKE_SMARTCAR: 'true' })).toBe('LOCAL_FAKE_SMARTCAR');
      expect(source({ npm_config_fake_smartcar: 'true' })).toBe('npm_config_fake_smartcar');
    });

    it('refuses values that are not a boolean, naming the variable', () => {
      expect(() => loadLocalConfig({ LOCAL_FAKE_SMARTCAR: 'yes' })).toThrow(/LOCAL_FAKE_SMARTCAR/);
      expect(() => loadLocalConfig({ npm_config_fake_smartcar: 'maybe' })).toThrow(
        /npm_config_fake_smartcar/,
      );
    });

    it('refuses unknown command-line options instead of ignoring a typo', () => {
      expect(() => loadLocalConfig({}, '/repo', ['--fake-smartcars'])).toThrow(
        /--fake-smartcars[\s\S]*Usage/,
      );
      expect(() => loadLocalConfig({}, '/repo', ['extra'])).toThrow(/Usage/);
      expect(parseLocalArgs(['--help'])).toEqual({ fakeSmartcar: false, help: true });
      expect(parseLocalArgs([])).toEqual({ fakeSmartcar: false, help: false });
    });
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
    recoveryQueueUrl: 'http://127.0.0.1:9324/000000000000/recovery',
    secretId: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf',
    vehicleTableName: 'vehicles',
    idempotencyTableName: 'idempotency',
    kmsEndpoint: 'http://127.0.0.1:4599',
    oauthStateTableName: 'states',
    tokenTableName: 'tokens',
    tokenKeyId: 'arn:aws:kms:us-east-1:000000000000:key/b8c7a79b-f02b-44a7-a5f2-24aa512500b7',
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

  it('gives the OAuth Lambdas their tables, the token key, the KMS stand-in and local URLs', () => {
    const env = lambdaEnvironment(loadLocalConfig({ PORT: '3100' }), resources, {});
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL_KMS: resources.kmsEndpoint,
      OAUTH_STATE_TABLE_NAME: 'states',
      TOKEN_TABLE_NAME: 'tokens',
      TOKEN_KEY_ID: resources.tokenKeyId,
      TOKEN_RECOVERY_QUEUE_URL: resources.recoveryQueueUrl,
      SMARTCAR_REDIRECT_URI: 'http://127.0.0.1:3100/oauth/callback',
      SMARTCAR_MODE: 'simulated',
      SMARTCAR_DEFAULT_SCOPES: 'read_vehicle_info,read_odometer',
      CONNECT_SUCCESS_URL: 'http://127.0.0.1:3100/local/connected',
      CONNECT_FAILURE_URL: 'http://127.0.0.1:3100/local/connect-failed',
      REQUIRE_HTTPS_URLS: 'false',
    });
  });

  it('points the smartcar SDK at the fake only when it runs', () => {
    const config = loadLocalConfig({});
    const real = lambdaEnvironment(config, resources, {});
    expect(Object.keys(real).filter((name) => name.endsWith('_ORIGIN'))).toEqual([]);
    const origins = {
      SMARTCAR_AUTH_ORIGIN: 'http://127.0.0.1:4010',
      SMARTCAR_API_ORIGIN: 'http://127.0.0.1:4010',
      SMARTCAR_MANAGEMENT_API_ORIGIN: 'http://127.0.0.1:4010',
    };
    expect(lambdaEnvironment(config, { ...resources, smartcarOrigins: origins }, {})).toMatchObject(origins);
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
