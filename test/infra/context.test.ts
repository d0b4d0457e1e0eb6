import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { SmartcarSecret } from '../../lib/constructs/smartcar-secret.js';
import {
  createSmartcarApp,
  parseSettings,
  resolveRegion,
  type SmartcarStack,
} from '../../lib/smartcar-stack.js';
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
    ['smartcarMode', 'LIVE'],
    ['smartcarScopes', ','],
    ['smartcarScopes', 'read_vehicle_info,'],
    ['smartcarScopes', 'read_vehicle_info,,read_odometer'],
    ['smartcarScopes', 'read_everything'],
    ['smartcarScopes', 'read vehicle info'],
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
