import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { SmartcarSecret } from '../../lib/constructs/smartcar-secret.js';
import { createSmartcarApp } from '../../lib/app.js';
import { parseSettings, resolveRegion } from '../../lib/settings.js';
import type { SmartcarStack } from '../../lib/smartcar-stack.js';
import { standInEntries } from './stand-in-entries.js';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const THIS_FILE = fileURLToPath(import.meta.url);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smartcar/prod-AbC123';

describe('parseSettings (CDK context validation)', () => {
  it('applies the defaults', () => {
    expect(parseSettings({})).toEqual({
      stage: 'dev',
      testEvents: 'separate',
      maxBodyBytes: 131072,
      processorMaxConcurrency: 5,
      apiRateLimit: 100,
      apiBurstLimit: 200,
      smartcarMode: 'live',
      smartcarScopes: ['read_vehicle_info'],
      smartcarWebhookIds: [],
      tokenRefreshSchedule: 'rate(15 minutes)',
      refreshWindowDays: 7,
      accessWarmWindowMinutes: 0,
      refreshConcurrency: 10,
      commandAuditDays: 90,
      owner: 'unowned',
      logLevel: 'INFO',
      webhookRateLimit: 1000,
      webhookBurstLimit: 2000,
      webhookSilenceHours: 6,
      queueSenderArns: [],
      edgeProtection: 'off',
      edgeRateLimit: 300,
      edgeWebhookRateLimit: 100000,
      edgeOriginGeneration: 1,
      connectConfirmation: 'on',
      connectConfirmMinutes: 15,
      reconcileRevokeOrphans: false,
    });
  });

  it('accepts the strings that `cdk -c key=value` passes and treats empty ones as unset', () => {
    expect(
      parseSettings({ stage: 'prod', maxBodyBytes: '65536', processorMaxConcurrency: '20', alarmEmail: '' }),
    ).toMatchObject({
      stage: 'prod',
      maxBodyBytes: 65536,
      processorMaxConcurrency: 20,
      alarmEmail: undefined,
    });
  });

  it.each([
    ['stage', 'Prod!'],
    ['testEvents', 'drop'],
    ['maxBodyBytes', '10'],
    ['maxBodyBytes', String(512 * 1024)],
    ['maxBodyBytes', 'lots'],
    ['processorMaxConcurrency', '1'],
    ['processorMaxConcurrency', '2.5'],
    ['alarmEmail', 'not-an-address'],
    ['region', 'Europe'],
    ['smartcarSecretArn', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smartcar'],
    // The callback refuses non-https pages in AWS (REQUIRE_HTTPS_URLS=true): fail at synth, not at cold start.
    ['connectSuccessUrl', 'http://app.example.com/connected'],
    ['connectSuccessUrl', 'app.example.com/connected'],
    ['connectSuccessUrl', 'https://user:secret@app.example.com/connected'],
    ['connectSuccessUrl', 'https://app.example.com/connected#done'],
    ['connectFailureUrl', 'ftp://app.example.com/failed'],
    ['connectFailureUrl', '/failed'],
    ['smartcarRedirectUri', 'http://api.example.com/oauth/callback'],
    ['smartcarMode', 'production'],
    ['edgeProtection', 'yes'],
    // AWS WAF's smallest rate-based limit.
    ['edgeRateLimit', '9'],
    ['edgeWebhookRateLimit', '0'],
    ['smartcarMode', 'LIVE'],
    ['smartcarScopes', ','],
    ['smartcarScopes', 'read_vehicle_info,'],
    ['smartcarScopes', 'read_vehicle_info,,read_odometer'],
    ['smartcarScopes', 'read_everything'],
    ['smartcarScopes', 'read vehicle info'],
    ['tokenRefreshSchedule', 'every 15 minutes'],
    ['tokenRefreshSchedule', 'rate(15 minute)'],
    ['tokenRefreshSchedule', 'rate(1 hours)'],
    ['tokenRefreshSchedule', 'rate(0 minutes)'],
    ['tokenRefreshSchedule', 'rate(15 seconds)'],
    ['tokenRefreshSchedule', 'rate(15  minutes)'],
    // More often than the job's 5-minute timeout: runs would overlap.
    ['tokenRefreshSchedule', 'rate(1 minute)'],
    ['tokenRefreshSchedule', 'rate(4 minutes)'],
    ['tokenRefreshSchedule', 'cron(0,2 * * * ? *)'],
    // Less often than every 12 hours (the alarms' windows are derived from the gap).
    ['tokenRefreshSchedule', 'rate(13 hours)'],
    ['tokenRefreshSchedule', 'rate(1 day)'],
    ['tokenRefreshSchedule', 'cron(0 12 * * ? *)'],
    // Crons must run every day, in EventBridge's six-field syntax.
    ['tokenRefreshSchedule', 'cron(0/15 * 1 * ? *)'],
    ['tokenRefreshSchedule', 'cron(0/15 * ? * MON-FRI *)'],
    ['tokenRefreshSchedule', 'cron(0/15 * * * * *)'],
    ['tokenRefreshSchedule', 'cron(0/15 * * * ?)'],
    ['tokenRefreshSchedule', 'cron(60 * * * ? *)'],
    ['tokenRefreshSchedule', 'cron(0 0-24 * * ? *)'],
    ['tokenRefreshSchedule', 'cron(0/0 * * * ? *)'],
    ['refreshWindowDays', '0'],
    ['refreshWindowDays', '31'],
    ['refreshWindowDays', '1.5'],
    ['accessWarmWindowMinutes', '-1'],
    ['accessWarmWindowMinutes', '111'],
    // Shorter than the 15 minutes between runs: tokens would expire between runs.
    ['accessWarmWindowMinutes', '10'],
    ['refreshConcurrency', '0'],
    ['refreshConcurrency', '51'],
    ['refreshConcurrency', 'ten'],
  ])('rejects %s=%s and names the key', (key, value) => {
    expect(() => parseSettings({ [key]: value })).toThrow(
      new RegExp(`Invalid Smartcar stack settings.*${key}`),
    );
  });

  it('accepts https pages and redirect URI, and every Smartcar mode', () => {
    expect(
      parseSettings({
        connectSuccessUrl: ' https://app.example.com/cars?tab=connected ',
        connectFailureUrl: 'https://app.example.com/cars/failed',
        smartcarRedirectUri: 'https://api.example.com/oauth/callback',
      }),
    ).toMatchObject({
      connectSuccessUrl: 'https://app.example.com/cars?tab=connected',
      connectFailureUrl: 'https://app.example.com/cars/failed',
      smartcarRedirectUri: 'https://api.example.com/oauth/callback',
    });
    for (const mode of ['live', 'test', 'simulated']) {
      expect(parseSettings({ smartcarMode: mode }).smartcarMode).toBe(mode);
    }
  });

  it('reads scopes from a comma list (-c) or an array (cdk.json), trimmed, in order and without duplicates', () => {
    expect(
      parseSettings({ smartcarScopes: ' read_vehicle_info, required:read_odometer ,read_vehicle_info' })
        .smartcarScopes,
    ).toEqual(['read_vehicle_info', 'required:read_odometer']);
    expect(parseSettings({ smartcarScopes: ['read_location', 'control_security'] }).smartcarScopes).toEqual([
      'read_location',
      'control_security',
    ]);
    expect(parseSettings({ smartcarScopes: '' }).smartcarScopes).toEqual(['read_vehicle_info']);
    expect(() => parseSettings({ smartcarScopes: [] })).toThrow(/smartcarScopes/);
  });

  it('accepts rate and every-day cron schedules for the token refresh, and its bounds', () => {
    for (const schedule of [
      'rate(5 minutes)',
      'rate(1 hour)',
      'rate(12 hours)',
      'cron(0/15 * * * ? *)',
      'cron(5,35 * ? * * *)',
      'cron(0 0/6 * * ? *)',
    ]) {
      expect(parseSettings({ tokenRefreshSchedule: ` ${schedule} ` }).tokenRefreshSchedule).toBe(schedule);
    }
    expect(
      parseSettings({
        refreshWindowDays: '30',
        accessWarmWindowMinutes: '110',
        refreshConcurrency: '50',
      }),
    ).toMatchObject({ refreshWindowDays: 30, accessWarmWindowMinutes: 110, refreshConcurrency: 50 });
    expect(parseSettings({ refreshWindowDays: 1, refreshConcurrency: 1 })).toMatchObject({
      refreshWindowDays: 1,
      refreshConcurrency: 1,
    });
    // Warming needs a run inside the window: at least the longest gap between runs.
    expect(parseSettings({ accessWarmWindowMinutes: '15' }).accessWarmWindowMinutes).toBe(15);
    expect(
      parseSettings({ tokenRefreshSchedule: 'rate(1 hour)', accessWarmWindowMinutes: '60' })
        .accessWarmWindowMinutes,
    ).toBe(60);
  });

  it('wants at least 4 refresh runs within the refresh window, and the warm window to cover the gap between runs', () => {
    expect(() => parseSettings({ refreshWindowDays: '1', tokenRefreshSchedule: 'rate(7 hours)' })).toThrow(
      /tokenRefreshSchedule: runs at least 4 times within refreshWindowDays=1/,
    );
    expect(parseSettings({ refreshWindowDays: '1', tokenRefreshSchedule: 'rate(6 hours)' })).toMatchObject({
      refreshWindowDays: 1,
    });
    expect(() =>
      parseSettings({ tokenRefreshSchedule: 'cron(0,20 * * * ? *)', accessWarmWindowMinutes: '20' }),
    ).toThrow(
      /accessWarmWindowMinutes: 0 \(off\) or at least the longest gap between refresh runs \(40 minutes\)/,
    );
    // Reported once, without a cross-check on top of a key's own error.
    expect(() => parseSettings({ refreshWindowDays: '0' })).toThrow(
      /^Invalid Smartcar stack settings \(CDK context\): refreshWindowDays: [^;]*$/,
    );
  });

  it('rejects a secret ARN and a secret name together', () => {
    expect(() =>
      parseSettings({ smartcarSecretArn: SECRET_ARN, smartcarSecretName: 'smartcar/prod' }),
    ).toThrow(/not both/);
  });

  it('takes the region from context, else CDK_DEFAULT_REGION, else us-east-1', () => {
    expect(
      resolveRegion(parseSettings({ region: 'eu-central-1' }), { CDK_DEFAULT_REGION: 'eu-west-1' }),
    ).toBe('eu-central-1');
    expect(resolveRegion(parseSettings({}), { CDK_DEFAULT_REGION: 'eu-west-1' })).toBe('eu-west-1');
    expect(resolveRegion(parseSettings({}), {})).toBe('us-east-1');
  });
});

describe('a stack built from context', () => {
  let stack: SmartcarStack;
  let template: Template;

  beforeAll(() => {
    ({ stack } = createSmartcarApp({
      appProps: {
        context: {
          ...cdkJson.context,
          'aws:cdk:bundling-stacks': [],
          stage: 'prod',
          region: 'eu-west-1',
          testEvents: 'skip',
          maxBodyBytes: '65536',
          alarmEmail: 'oncall@example.com',
          smartcarSecretArn: SECRET_ARN,
          processorMaxConcurrency: '20',
          connectSuccessUrl: 'https://app.example.com/cars/connected',
          connectFailureUrl: 'https://app.example.com/cars/connect-failed',
          smartcarRedirectUri: 'https://api.example.com/oauth/callback',
          smartcarMode: 'simulated',
          smartcarScopes: 'read_vehicle_info,read_odometer',
          tokenRefreshSchedule: 'cron(0/30 * * * ? *)',
          refreshWindowDays: '10',
          accessWarmWindowMinutes: '45',
          refreshConcurrency: '20',
        },
      },
      env: { CDK_DEFAULT_REGION: 'us-west-2' },
      entries: standInEntries(THIS_FILE),
    }));
    template = Template.fromStack(stack);
  });

  it('uses the stage and region', () => {
    expect(stack.stackName).toBe('Smartcar-prod');
    expect(stack.region).toBe('eu-west-1');
  });

  it('imports the secret by ARN instead of creating one, and scopes the receiver to it', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { SMARTCAR_SECRET_ID: SECRET_ARN, MAX_BODY_BYTES: '65536' } },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } })
          .Properties.PolicyDocument.Statement,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }),
    );
  });

  it('passes TEST_EVENTS and the processor concurrency through', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { TEST_EVENTS: 'skip' } },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 20 },
    });
  });

  it('passes the Connect settings to the OAuth Lambdas and outputs the redirect URI to register', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SMARTCAR_REDIRECT_URI: 'https://api.example.com/oauth/callback',
          SMARTCAR_MODE: 'simulated',
          SMARTCAR_DEFAULT_SCOPES: 'read_vehicle_info,read_odometer',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SMARTCAR_REDIRECT_URI: 'https://api.example.com/oauth/callback',
          CONNECT_SUCCESS_URL: 'https://app.example.com/cars/connected',
          CONNECT_FAILURE_URL: 'https://app.example.com/cars/connect-failed',
          REQUIRE_HTTPS_URLS: 'true',
        }),
      },
    });
    template.hasOutput('OAuthCallbackUrl', { Value: 'https://api.example.com/oauth/callback' });
  });

  it('does not warn about the Connect pages once they are set', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('connect.*Url'))).toEqual([]);
  });

  it('schedules the token refresh as configured and passes its settings to the job', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(0/30 * * * ? *)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          REFRESH_WINDOW_DAYS: '10',
          ACCESS_WARM_WINDOW_MINUTES: '45',
          REFRESH_CONCURRENCY: '20',
          REFRESH_LEASE_SECONDS: '60',
        }),
      },
    });
  });

  it('derives the refresh alarms and the drop age from the 30 minutes between runs', () => {
    // A run that could not start within 30 minutes is superseded by the next one.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 1800,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'TokenRefreshFailed',
      Period: 1800,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Invocations',
      Period: 3600,
      TreatMissingData: 'breaching',
    });
  });

  it('lets the job query the access-expiry index too while warming is on', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } })
          .Properties.PolicyDocument.Statement,
    );
    const queried = statements
      .filter(
        (s) =>
          s.Action === 'dynamodb:Query' || (Array.isArray(s.Action) && s.Action.includes('dynamodb:Query')),
      )
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
      .map((r) => JSON.stringify(r))
      .filter((r) => r.includes('/index/by') && r.includes('Expiry'));
    // (byRefreshExpiry is also queried for its PENDING partition by the connect expiry job and user removal.)
    expect(new Set(queried.map((r) => /\/index\/(\w+)/.exec(r)?.[1]))).toEqual(
      new Set(['byAccessExpiry', 'byRefreshExpiry']),
    );
  });

  it('subscribes the alarm e-mail to the on-call topic', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });
});

describe('SmartcarSecret imported by name', () => {
  it('hands the name to the Lambdas and grants GetSecretValue on name-?????? only', () => {
    const stack = new Stack(new App(), 'SecretByName', { env: { region: 'eu-west-1' } });
    const secret = new SmartcarSecret(stack, 'Secret', { existingSecretName: 'smartcar/prod' });
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    secret.grantRead(role);

    expect(secret.secretId).toBe('smartcar/prod');
    expect(secret.created).toBe(false);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy')) as {
      Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } };
    }[];
    expect(policy?.Properties.PolicyDocument.Statement).toEqual([
      expect.objectContaining({ Action: 'secretsmanager:GetSecretValue' }),
    ]);
    expect(JSON.stringify(policy?.Properties.PolicyDocument.Statement[0]?.Resource)).toContain(
      ':secret:smartcar/prod-??????',
    );
  });

  it('refuses an ARN and a name at the same time', () => {
    const stack = new Stack(new App(), 'Both');
    expect(
      () => new SmartcarSecret(stack, 'Secret', { existingSecretArn: SECRET_ARN, existingSecretName: 'x' }),
    ).toThrow(/not both/);
  });
});
