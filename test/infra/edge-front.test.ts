import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FUNCTION_IDS,
  FUNCTIONS,
  OAUTH_CALLBACK_PATH,
  type RouteContract,
  WEBHOOK_PATH,
} from '../../contracts/index.js';
import { createSmartcarApp } from '../../lib/app.js';
import type { EdgeAclStack } from '../../lib/edge-acl-stack.js';
import { SmartcarStack } from '../../lib/smartcar-stack.js';
import {
  cdkJson,
  list,
  refOf,
  render,
  THIS_FILE,
  type CfnResource,
  type Statement,
} from './stack-template.js';
import { standInEntries } from './stand-in-entries.js';

/**
 * The optional CloudFront + AWS WAF front of the public routes (`edgeProtection=on`), synthesized like
 * bin/app.ts does: in us-east-1 (the web ACL in the stack) and elsewhere (the web ACL in a us-east-1 stack).
 */

interface Synthesized {
  readonly app: App;
  readonly stack: SmartcarStack;
  readonly edgeAclStack?: EdgeAclStack;
  readonly resources: Record<string, CfnResource>;
  readonly outputs: Record<string, { Value: unknown }>;
}

function synth(context: Record<string, unknown>): Synthesized {
  const { app, stack, edgeAclStack } = createSmartcarApp({
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } },
    env: {},
    entries: standInEntries(THIS_FILE),
  });
  const template = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, CfnResource>;
    Outputs: Record<string, { Value: unknown }>;
  };
  return { app, stack, edgeAclStack, resources: template.Resources, outputs: template.Outputs };
}

const resourcesOf = (stack: Stack) =>
  Template.fromStack(stack).toJSON().Resources as Record<string, CfnResource>;
const ofType = (resources: Record<string, CfnResource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const p = (r: CfnResource) => r.Properties ?? {};
function one(resources: Record<string, CfnResource>, type: string): [string, CfnResource] {
  const found = ofType(resources, type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

interface Behavior {
  PathPattern?: string;
  AllowedMethods?: string[];
  CachePolicyId?: string;
  OriginRequestPolicyId?: string;
  TargetOriginId?: string;
  ViewerProtocolPolicy?: string;
  FunctionAssociations?: { EventType: string; FunctionARN: unknown }[];
}
interface DistributionConfig {
  CacheBehaviors: Behavior[];
  DefaultCacheBehavior: Behavior;
  Origins: {
    Id: string;
    DomainName: unknown;
    CustomOriginConfig: { OriginProtocolPolicy: string; OriginSSLProtocols: string[] };
  }[];
  WebACLId: unknown;
  Logging?: { Bucket: unknown; Prefix?: string };
}
const distributionConfig = (s: Synthesized) =>
  p(one(s.resources, 'AWS::CloudFront::Distribution')[1]).DistributionConfig as DistributionConfig;

interface RateRule {
  Name: string;
  Action?: { Block?: unknown };
  OverrideAction?: unknown;
  VisibilityConfig: { CloudWatchMetricsEnabled: boolean; SampledRequestsEnabled: boolean };
  Statement: {
    RateBasedStatement?: {
      AggregateKeyType: string;
      Limit: number;
      EvaluationWindowSec: number;
      ScopeDownStatement: unknown;
    };
    ManagedRuleGroupStatement?: { VendorName: string; Name: string };
  };
}
/** cdk-nag's AWS Solutions findings in every stack of the app, one line each. */
const nagFindings = (app: App): string[] =>
  new AwsSolutionsChecks()
    .validateScope(app)
    .violations.map((v) => `${v.ruleName} at ${v.violatingResources[0]?.constructPath}`);

/** A stack with the front on, built without the app (so without a companion stack). */
const standaloneStack = (region?: string) =>
  new SmartcarStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Standalone', {
    ...(region === undefined ? {} : { env: { region } }),
    settings: { edgeProtection: 'on' },
    entries: standInEntries(THIS_FILE),
  });

const rulesOf = (acl: CfnResource) => p(acl).Rules as RateRule[];
const webhookPathMatch = {
  ByteMatchStatement: {
    FieldToMatch: { UriPath: {} },
    PositionalConstraint: 'EXACTLY',
    SearchString: WEBHOOK_PATH,
    TextTransformations: [{ Priority: 0, Type: 'NONE' }],
  },
};

describe('edge protection off (the default)', () => {
  let off: Synthesized;
  beforeAll(() => {
    off = synth({});
  });

  it('adds no distribution, no web ACL and no companion stack', () => {
    expect(ofType(off.resources, 'AWS::CloudFront::Distribution')).toEqual([]);
    expect(ofType(off.resources, 'AWS::WAFv2::WebACL')).toEqual([]);
    expect(off.edgeAclStack).toBeUndefined();
    expect(off.app.node.children.filter((c) => c instanceof Stack)).toEqual([off.stack]);
  });

  it('locks no origin: no origin secret, and the public routes expect no origin header', () => {
    const secrets = ofType(off.resources, 'AWS::SecretsManager::Secret');
    expect(secrets.map(([id]) => id).filter((id) => id.includes('Origin'))).toEqual([]);
    for (const [, f] of ofType(off.resources, 'AWS::Lambda::Function')) {
      const env = (p(f).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).not.toHaveProperty('EDGE_ORIGIN_SECRET_ID');
    }
  });

  it("sends Smartcar to the API's own URLs", () => {
    expect(render(off.outputs.WebhookUrl?.Value)).toMatch(/execute-api.*\/webhooks\/smartcar$/);
    expect(render(off.outputs.OAuthCallbackUrl?.Value)).toMatch(/execute-api.*\/oauth\/callback$/);
    expect(off.outputs.EdgeDistributionId).toBeUndefined();
  });
});

describe('edge protection on, in us-east-1', () => {
  let on: Synthesized;
  beforeAll(() => {
    on = synth({ edgeProtection: 'on', edgeRateLimit: '500', edgeWebhookRateLimit: '50000' });
  });

  it('forwards exactly the public routes to the API, uncached, with everything but Host', () => {
    const config = distributionConfig(on);
    const publicPaths = FUNCTION_IDS.flatMap((id): readonly RouteContract[] => FUNCTIONS[id].routes)
      .filter((route) => route.auth === 'none')
      .map((route) => route.path);
    expect(config.CacheBehaviors.map((b) => b.PathPattern).sort()).toEqual(
      [WEBHOOK_PATH, OAUTH_CALLBACK_PATH].sort(),
    );
    expect(new Set(publicPaths)).toEqual(new Set([WEBHOOK_PATH, OAUTH_CALLBACK_PATH]));
    const [origin] = config.Origins;
    // The execute-api host of this stack's HTTP API, over TLS 1.2 only.
    const [apiId] = one(on.resources, 'AWS::ApiGatewayV2::Api');
    expect(JSON.stringify(origin?.DomainName)).toContain(
      JSON.stringify({ 'Fn::GetAtt': [apiId, 'ApiEndpoint'] }),
    );
    expect(origin?.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
    for (const behavior of config.CacheBehaviors) {
      expect(behavior, behavior.PathPattern).toMatchObject({
        TargetOriginId: origin?.Id,
        CachePolicyId: cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId,
        OriginRequestPolicyId:
          cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
        ViewerProtocolPolicy: 'https-only',
      });
    }
    const methods = (path: string) =>
      config.CacheBehaviors.find((b) => b.PathPattern === path)?.AllowedMethods;
    expect(methods(WEBHOOK_PATH)).toContain('POST');
    expect(methods(OAUTH_CALLBACK_PATH)).toEqual(['GET', 'HEAD']);
  });

  it('locks the origin: CloudFront sends a generated secret that only the receiver and the callback read', () => {
    const [secretId, secret] = ofType(on.resources, 'AWS::SecretsManager::Secret').find(([id]) =>
      id.includes('OriginSecret'),
    ) as [string, CfnResource];
    expect(p(secret).GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    const origin = distributionConfig(on).Origins[0] as unknown as {
      OriginCustomHeaders: { HeaderName: string; HeaderValue: unknown }[];
    };
    // A dynamic reference resolved at deploy time: the template never holds the value.
    expect(origin.OriginCustomHeaders.map((h) => [h.HeaderName, render(h.HeaderValue)])).toEqual([
      ['x-origin-verify', `{{resolve:secretsmanager:<${secretId}>:SecretString:::}}`],
    ]);
    const functions = ofType(on.resources, 'AWS::Lambda::Function');
    const locked = functions
      .filter(([, f]) => {
        const env = (p(f).Environment as { Variables: Record<string, unknown> }).Variables;
        return refOf(env.EDGE_ORIGIN_SECRET_ID) === secretId;
      })
      .map(([, f]) => String(p(f).Description).split(':')[0]);
    expect(locked.sort()).toEqual(['OAuth callback', 'Smartcar webhook receiver']);
    const readers = ofType(on.resources, 'AWS::IAM::Policy')
      .filter(([, policy]) =>
        list((p(policy).PolicyDocument as { Statement: Statement[] }).Statement).some(
          (statement) =>
            list(statement.Resource).some((resource) => refOf(resource) === secretId) &&
            list(statement.Action).includes('secretsmanager:GetSecretValue'),
        ),
      )
      .flatMap(([, policy]) => list(p(policy).Roles as unknown[]).map(refOf));
    const rolesOf = (description: string) =>
      functions
        .filter(([, f]) => String(p(f).Description).startsWith(description))
        .map(([, f]) => refOf(p(f).Role));
    expect(readers.sort()).toEqual(
      [...rolesOf('OAuth callback'), ...rolesOf('Smartcar webhook receiver')].sort(),
    );
  });

  it('replaces the origin secret when edgeOriginGeneration is raised, and hands the new one to all three', () => {
    const next = synth({ edgeProtection: 'on', edgeOriginGeneration: '2' });
    const ids = ofType(next.resources, 'AWS::SecretsManager::Secret')
      .map(([id]) => id)
      .filter((id) => id.includes('OriginSecret'));
    const before = ofType(on.resources, 'AWS::SecretsManager::Secret')
      .map(([id]) => id)
      .filter((id) => id.includes('OriginSecret'));
    expect(ids).toHaveLength(1);
    expect(ids).not.toEqual(before);
    const origin = distributionConfig(next).Origins[0] as unknown as {
      OriginCustomHeaders: { HeaderValue: unknown }[];
    };
    expect(render(origin.OriginCustomHeaders[0]?.HeaderValue)).toContain(`<${ids[0]}>`);
    const locked = ofType(next.resources, 'AWS::Lambda::Function').filter(([, f]) => {
      const env = (p(f).Environment as { Variables: Record<string, unknown> }).Variables;
      return refOf(env.EDGE_ORIGIN_SECRET_ID) === ids[0];
    });
    expect(locked).toHaveLength(2);
  });

  it('answers every other path (the IAM routes among them) with 404 at the edge', () => {
    const { DefaultCacheBehavior } = distributionConfig(on);
    const [association] = list(DefaultCacheBehavior.FunctionAssociations);
    expect(association?.EventType).toBe('viewer-request');
    const fn = on.resources[refOf(association?.FunctionARN) as string] as CfnResource;
    expect(String(p(fn).FunctionCode)).toMatch(/statusCode: 404/);
    expect(DefaultCacheBehavior.CachePolicyId).toBe(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId);
  });

  it('attaches a CLOUDFRONT web ACL that blocks source IPs over the configured rates', () => {
    const [aclId, acl] = one(on.resources, 'AWS::WAFv2::WebACL');
    expect(refOf(distributionConfig(on).WebACLId)).toBe(aclId);
    expect(JSON.stringify(distributionConfig(on).WebACLId)).toContain('Arn');
    expect(p(acl)).toMatchObject({ Scope: 'CLOUDFRONT', DefaultAction: { Allow: {} } });
    const rules = rulesOf(acl);
    const rate = rules.filter((r) => r.Statement.RateBasedStatement);
    expect(rate.map((r) => r.Statement.RateBasedStatement)).toEqual([
      {
        AggregateKeyType: 'IP',
        Limit: 50000,
        EvaluationWindowSec: 300,
        ScopeDownStatement: webhookPathMatch,
      },
      {
        AggregateKeyType: 'IP',
        Limit: 500,
        EvaluationWindowSec: 300,
        ScopeDownStatement: { NotStatement: { Statement: webhookPathMatch } },
      },
    ]);
    for (const rule of rules) {
      if (rule.Statement.RateBasedStatement) expect(rule.Action, rule.Name).toEqual({ Block: {} });
      expect(rule.VisibilityConfig, rule.Name).toMatchObject({
        CloudWatchMetricsEnabled: true,
        SampledRequestsEnabled: true,
      });
    }
  });

  it('uses no managed rule group that inspects bodies (Smartcar sends up to ~50 KB)', () => {
    const managed = rulesOf(one(on.resources, 'AWS::WAFv2::WebACL')[1])
      .map((r) => r.Statement.ManagedRuleGroupStatement)
      .filter((g) => g !== undefined);
    // The IP reputation list looks at the source address only.
    expect(managed).toEqual([{ VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' }]);
  });

  it('pages the on-call topic when the web ACL blocks requests, and when it stops', () => {
    const [topicId] = one(on.resources, 'AWS::SNS::Topic');
    const [, acl] = one(on.resources, 'AWS::WAFv2::WebACL');
    const [, alarm] = ofType(on.resources, 'AWS::CloudWatch::Alarm').find(
      ([, a]) => p(a).Namespace === 'AWS/WAFV2',
    ) as [string, CfnResource];
    expect(p(alarm)).toMatchObject({
      AlarmName: `${on.stack.stackName}-EdgeBlockedRequests`,
      MetricName: 'BlockedRequests',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 100,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(p(alarm).Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'WebACL', Value: p(acl).Name },
        { Name: 'Rule', Value: 'ALL' },
      ]),
    );
    expect(list(p(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
    expect(list(p(alarm).OKActions).map(refOf)).toEqual([topicId]);
  });

  it('sends Smartcar (webhooks and the OAuth redirect) through CloudFront', () => {
    const [distributionId] = one(on.resources, 'AWS::CloudFront::Distribution');
    expect(render(on.outputs.WebhookUrl?.Value)).toBe(`https://<${distributionId}>${WEBHOOK_PATH}`);
    expect(render(on.outputs.OAuthCallbackUrl?.Value)).toBe(
      `https://<${distributionId}>${OAUTH_CALLBACK_PATH}`,
    );
    // The redirect URI the Lambdas hand to Smartcar is the one to register.
    const callback = ofType(on.resources, 'AWS::Lambda::Function').find(([, f]) =>
      String(p(f).Description).startsWith('OAuth callback'),
    ) as [string, CfnResource];
    const env = (p(callback[1]).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.SMARTCAR_REDIRECT_URI).toEqual(on.outputs.OAuthCallbackUrl?.Value);
    // The IAM routes stay on the API's own URL.
    expect(render(on.outputs.ConnectUrl?.Value)).toMatch(/execute-api/);
  });

  it("logs every request to a private, encrypted bucket that accepts CloudFront's log delivery", () => {
    const { Logging } = distributionConfig(on);
    const bucket = on.resources[refOf(Logging?.Bucket) as string] as CfnResource;
    expect(bucket.Type).toBe('AWS::S3::Bucket');
    expect(p(bucket)).toMatchObject({
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 90, Status: 'Enabled' }] },
    });
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(on.app)).toEqual([]);
  });
});

describe('edge protection on, outside us-east-1', () => {
  let away: Synthesized;
  beforeAll(() => {
    away = synth({ edgeProtection: 'on', region: 'eu-west-1' });
  });

  it('creates the web ACL and its alarm in a us-east-1 stack, and the front in the stack', () => {
    const edge = away.edgeAclStack as EdgeAclStack;
    expect(edge.region).toBe('us-east-1');
    expect(away.stack.region).toBe('eu-west-1');
    expect(ofType(away.resources, 'AWS::WAFv2::WebACL')).toEqual([]);
    expect(
      ofType(away.resources, 'AWS::CloudWatch::Alarm').filter(([, a]) => p(a).Namespace === 'AWS/WAFV2'),
    ).toEqual([]);
    const edgeResources = resourcesOf(edge);
    const [, acl] = one(edgeResources, 'AWS::WAFv2::WebACL');
    expect(p(acl)).toMatchObject({ Scope: 'CLOUDFRONT', Name: `${away.stack.stackName}-edge` });
    // The alarm sits next to its metric (us-east-1) and notifies a topic there: alarm actions must be local.
    const [topicId] = one(edgeResources, 'AWS::SNS::Topic');
    const [, alarm] = one(edgeResources, 'AWS::CloudWatch::Alarm');
    expect(p(alarm)).toMatchObject({ Namespace: 'AWS/WAFV2', MetricName: 'BlockedRequests' });
    expect(list(p(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
    expect(list(p(alarm).OKActions).map(refOf)).toEqual([topicId]);
  });

  it("attaches the us-east-1 web ACL through a cross-region reference, deployed after the ACL's stack", () => {
    const reader = refOf(distributionConfig(away).WebACLId) as string;
    expect(away.resources[reader]?.Type).toBe('Custom::CrossRegionExportReader');
    expect(away.stack.dependencies).toContain(away.edgeAclStack);
  });

  it('passes cdk-nag in both stacks', () => {
    expect(nagFindings(away.app)).toEqual([]);
  });

  it('refuses a stack outside us-east-1 that is given no web ACL', () => {
    expect(() => standaloneStack('eu-west-1')).toThrow(/only be created in us-east-1/);
  });

  it('refuses a stack whose region is not known at synth', () => {
    expect(() => standaloneStack()).toThrow(/explicit region/);
  });
});
