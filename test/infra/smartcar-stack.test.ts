import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { type App, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_RUNTIME } from '../../lib/constructs/node-lambda.js';
import {
  createSmartcarApp,
  LAMBDA_ENTRIES,
  PROCESSOR_TIMEOUT,
  type SmartcarStack,
  TOKEN_REFRESH_TIMEOUT,
} from '../../lib/smartcar-stack.js';
import { standInEntries } from './stand-in-entries.js';

// ---------------------------------------------------------------------------------------------------------
// One app for the whole file, built like bin/app.ts does (cdk.json's feature flags, cdk-nag registered),
// but with bundling skipped: esbuild never runs, so the entry only has to exist (NodejsFunction checks
// that). This file stands in for the handlers, which keeps these tests independent of the Lambda code.
// ---------------------------------------------------------------------------------------------------------

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const THIS_FILE = fileURLToPath(import.meta.url);

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

let app: App;
let stack: SmartcarStack;
let template: Template;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  ({ app, stack } = createSmartcarApp({
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } },
    env: {},
    entries: standInEntries(THIS_FILE),
  }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, CfnResource>;
});

// --- helpers -----------------------------------------------------------------------------------------------

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The logical id behind `{Ref: id}` or `{Fn::GetAtt: [id, attr]}`. */
function refOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ('Ref' in value && typeof value.Ref === 'string') return value.Ref;
  if ('Fn::GetAtt' in value && Array.isArray(value['Fn::GetAtt'])) return String(value['Fn::GetAtt'][0]);
  return undefined;
}

function ofType(type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function only(type: string, predicate: (r: CfnResource) => boolean = () => true): [string, CfnResource] {
  const matches = ofType(type).filter(([, r]) => predicate(r));
  expect(matches, `exactly one ${type} matching`).toHaveLength(1);
  return matches[0] as [string, CfnResource];
}

function props(resource: CfnResource): Record<string, unknown> {
  return resource.Properties ?? {};
}

const envOf = (fn: CfnResource): Record<string, unknown> =>
  (props(fn).Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};

/** The Lambda function whose description starts with `prefix`. */
function fn(prefix: string): [string, CfnResource] {
  return only('AWS::Lambda::Function', (r) => String(props(r).Description).startsWith(prefix));
}
const receiver = () => fn('Smartcar webhook receiver');
const processor = () => fn('Smartcar webhook processor');
const vehicleRead = () => fn('Vehicle state read API');
const oauthConnect = () => fn('OAuth connect');
const oauthCallback = () => fn('OAuth callback');
const vehicleDisconnect = () => fn('Vehicle disconnect API');
const tokenRefresh = () => fn('Token refresh job');
const vehicleCommand = () => fn('Vehicle commands');
/** The command audit table: the only table keyed by vehicleId + sk. */
const auditTable = () =>
  only('AWS::DynamoDB::Table', (t) =>
    isDeepStrictEqual(props(t).KeySchema, [
      { AttributeName: 'vehicleId', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]),
  );
const allFunctions = () => ofType('AWS::Lambda::Function');
const roleOf = ([, f]: [string, CfnResource]) => refOf(props(f).Role) as string;

/** Every identity-policy statement attached to the function's role (inline or AWS::IAM::Policy). */
function statementsOf([, lambdaFn]: [string, CfnResource]): Statement[] {
  const roleId = refOf(props(lambdaFn).Role);
  expect(roleId).toBeDefined();
  const role = resources[roleId as string] as CfnResource;
  expect(props(role).ManagedPolicyArns, 'no managed policies').toBeUndefined();
  const inline = list(props(role).Policies as { PolicyDocument: { Statement: Statement[] } }[]);
  const attached = ofType('AWS::IAM::Policy')
    .filter(([, p]) => list(props(p).Roles).some((r) => refOf(r) === roleId))
    .map(([, p]) => props(p).PolicyDocument as { Statement: Statement[] });
  return [...inline.map((p) => p.PolicyDocument), ...attached].flatMap((doc) => doc.Statement);
}

/** Every statement of every identity policy in the stack, with the roles it is attached to. */
function identityStatements(): { roles: string[]; statement: Statement }[] {
  const attached = ofType('AWS::IAM::Policy').flatMap(([, p]) =>
    (props(p).PolicyDocument as { Statement: Statement[] }).Statement.map((statement) => ({
      roles: list(props(p).Roles).map((r) => refOf(r) as string),
      statement,
    })),
  );
  const inline = ofType('AWS::IAM::Role').flatMap(([roleId, r]) =>
    list(props(r).Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) =>
      p.PolicyDocument.Statement.map((statement) => ({ roles: [roleId], statement })),
    ),
  );
  return [...attached, ...inline];
}

/** A policy value as text: `<LogicalId>` for Ref/GetAtt, Fn::Join flattened. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const ref = refOf(value);
  if (ref !== undefined) return `<${ref}>`;
  if (typeof value === 'object' && value !== null && 'Fn::Join' in value) {
    const [separator, parts] = value['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  return JSON.stringify(value);
}

/** The only condition a statement on the data or token key may carry for table access. */
const viaDynamoDb = () => ({
  StringEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` },
});
/** docs/design.md: token ciphertexts are bound to exactly {grantId, appUserId, tokenType: access|refresh}. */
const TOKEN_CONTEXT_CONDITION = {
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['grantId', 'appUserId', 'tokenType'] },
  Null: {
    'kms:EncryptionContext:grantId': 'false',
    'kms:EncryptionContext:appUserId': 'false',
    'kms:EncryptionContext:tokenType': 'false',
  },
  StringEquals: { 'kms:EncryptionContext:tokenType': ['access', 'refresh'] },
};

function conditionLabel(statement: Statement): string {
  if (statement.Condition === undefined) return '';
  if (isDeepStrictEqual(statement.Condition, viaDynamoDb())) return ' via DynamoDB';
  if (isDeepStrictEqual(statement.Condition, TOKEN_CONTEXT_CONDITION)) return ' with token context';
  return ` if ${JSON.stringify(statement.Condition)}`;
}

/**
 * What a function's role may do, one "action resource [condition]" line per pair, without its log writes
 * (checked separately): comparing these sets states the whole grant, whatever way CDK merged statements.
 */
function permissionsOf(f: [string, CfnResource]): Set<string> {
  const lines = statementsOf(f).flatMap((s) => {
    expect(s.Effect).toBe('Allow');
    return list(s.Action)
      .filter((a) => !a.startsWith('logs:'))
      .flatMap((a) => list(s.Resource).map((r) => `${a} ${render(r)}${conditionLabel(s)}`));
  });
  return new Set(lines);
}

/** `actions` on `resource`, one line each (see permissionsOf). */
const each = (actions: string[], resource: string, label = '') =>
  actions.map((a) => `${a} ${resource}${label}`);

const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => list(s.Action));
const resourceIds = (s: Statement): (string | undefined)[] => list(s.Resource).map(refOf);
const allowsAny = (statements: Statement[], prefix: string) =>
  actionsOf(statements.filter((s) => s.Effect === 'Allow')).some((a) => a.startsWith(prefix));

/** The webhook queue and its DLQ (the one its redrive policy names). */
function queues() {
  const main = only('AWS::SQS::Queue', (q) => props(q).RedrivePolicy !== undefined);
  const dlqId = refOf((props(main[1]).RedrivePolicy as { deadLetterTargetArn: unknown }).deadLetterTargetArn);
  const dlq = only('AWS::SQS::Queue', (q) => q === resources[dlqId as string]);
  return { main, dlq };
}
const scheduleRule = () => only('AWS::Events::Rule');
/** The token refresh's DLQ: the one its schedule's target names. */
const refreshDlq = () => {
  const [target] = props(scheduleRule()[1]).Targets as { DeadLetterConfig: { Arn: unknown } }[];
  const id = refOf(target?.DeadLetterConfig.Arn) as string;
  return [id, resources[id] as CfnResource] as [string, CfnResource];
};
const table = (partitionKey: string) =>
  only('AWS::DynamoDB::Table', (t) =>
    list(props(t).KeySchema as { AttributeName: string; KeyType: string }[]).some(
      (k) => k.KeyType === 'HASH' && k.AttributeName === partitionKey,
    ),
  );
const stateTable = () => table('pk');
const idempotencyTable = () => table('id');
const tokenTable = () => table('grantId');
const oauthStateTable = () => table('state');
const secretId = () => only('AWS::SecretsManager::Secret')[0];
const keyOf = ([, t]: [string, CfnResource]) =>
  refOf((props(t).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId) as string;
const dataKeyId = () => keyOf(stateTable());
const tokenKeyId = () => keyOf(tokenTable());

// --- tests -------------------------------------------------------------------------------------------------

describe('HTTP API', () => {
  it('routes POST /webhooks/smartcar to the receiver without an authorizer (HMAC-protected)', () => {
    const [, route] = only(
      'AWS::ApiGatewayV2::Route',
      (r) => props(r).RouteKey === 'POST /webhooks/smartcar',
    );
    expect(props(route).AuthorizationType).toBe('NONE');
    expect(props(route).AuthorizerId).toBeUndefined();
    expectIntegrationTo(route, receiver()[0]);
  });

  it('routes GET /vehicles/{vehicleId} to the read Lambda with IAM (SigV4) authorization', () => {
    const [, route] = only(
      'AWS::ApiGatewayV2::Route',
      (r) => props(r).RouteKey === 'GET /vehicles/{vehicleId}',
    );
    expect(props(route).AuthorizationType).toBe('AWS_IAM');
    expectIntegrationTo(route, vehicleRead()[0]);
  });

  it.each([
    ['POST /connect', 'AWS_IAM', oauthConnect],
    ['GET /oauth/callback', 'NONE', oauthCallback],
    ['GET /vehicles', 'AWS_IAM', vehicleRead],
    ['DELETE /vehicles/{vehicleId}', 'AWS_IAM', vehicleDisconnect],
  ])('routes %s (authorization %s) to its Lambda', (routeKey, authorization, target) => {
    const [, route] = only('AWS::ApiGatewayV2::Route', (r) => props(r).RouteKey === routeKey);
    expect(props(route).AuthorizationType).toBe(authorization);
    if (authorization === 'NONE') expect(props(route).AuthorizerId).toBeUndefined();
    expectIntegrationTo(route, target()[0]);
  });

  it('has exactly these routes (no $default catch-all); only the webhook and the OAuth callback are public', () => {
    const routes = Object.fromEntries(
      ofType('AWS::ApiGatewayV2::Route').map(([, r]) => [props(r).RouteKey, props(r).AuthorizationType]),
    );
    expect(routes).toEqual({
      'POST /webhooks/smartcar': 'NONE',
      'GET /vehicles/{vehicleId}': 'AWS_IAM',
      'GET /vehicles': 'AWS_IAM',
      'POST /connect': 'AWS_IAM',
      'GET /oauth/callback': 'NONE',
      'DELETE /vehicles/{vehicleId}': 'AWS_IAM',
      'POST /vehicles/{vehicleId}/commands': 'AWS_IAM',
      'GET /vehicles/{vehicleId}/commands': 'AWS_IAM',
    });
  });

  it('lets API Gateway invoke each OAuth function for its own route only', () => {
    const cases: [[string, CfnResource], string][] = [
      [oauthConnect(), '/*/*/connect'],
      [oauthCallback(), '/*/*/oauth/callback'],
      [vehicleDisconnect(), '/*/*/vehicles/{vehicleId}'],
    ];
    for (const [f, path] of cases) {
      const permissions = ofType('AWS::Lambda::Permission').filter(
        ([, p]) => refOf(props(p).FunctionName) === f[0],
      );
      expect(permissions).toHaveLength(1);
      const permission = props((permissions[0] as [string, CfnResource])[1]);
      expect(permission.Principal).toBe('apigateway.amazonaws.com');
      expect(render(permission.SourceArn).endsWith(`<${only('AWS::ApiGatewayV2::Api')[0]}>${path}`)).toBe(
        true,
      );
    }
  });

  it('logs every request of the $default stage as JSON, without bodies or headers, with a retention', () => {
    const [, stage] = only('AWS::ApiGatewayV2::Stage');
    expect(props(stage).StageName).toBe('$default');
    const settings = props(stage).AccessLogSettings as { DestinationArn: unknown; Format: string };
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format.requestId).toBe('$context.requestId');
    for (const variable of Object.values(format)) {
      expect(variable).not.toMatch(/body|header|authorization|signature|querystring/i);
    }
    const logGroup = resources[refOf(settings.DestinationArn) as string] as CfnResource;
    expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
    expect(props(logGroup).RetentionInDays).toBeGreaterThan(0);
  });

  it('throttles the stage', () => {
    const [, stage] = only('AWS::ApiGatewayV2::Stage');
    const route = props(stage).DefaultRouteSettings as Record<string, number>;
    expect(route.ThrottlingRateLimit).toBeGreaterThan(0);
    expect(route.ThrottlingBurstLimit).toBeGreaterThanOrEqual(route.ThrottlingRateLimit as number);
  });
});

function expectIntegrationTo(route: CfnResource, functionId: string): void {
  const target = JSON.stringify(props(route).Target);
  const integration = ofType('AWS::ApiGatewayV2::Integration').find(([id]) => target.includes(id));
  expect(integration, 'route integration').toBeDefined();
  const integrationProps = props((integration as [string, CfnResource])[1]);
  expect(integrationProps.IntegrationType).toBe('AWS_PROXY');
  expect(integrationProps.PayloadFormatVersion).toBe('2.0');
  expect(refOf(integrationProps.IntegrationUri)).toBe(functionId);
}

describe('queue and dead-letter queue', () => {
  it('moves a message to the DLQ after 5 receives; the DLQ keeps it 14 days', () => {
    const { main, dlq } = queues();
    const redrive = props(main[1]).RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
    expect(redrive.maxReceiveCount).toBe(5);
    expect(refOf(redrive.deadLetterTargetArn)).toBe(dlq[0]);
    expect(props(dlq[1]).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(props(dlq[1]).MessageRetentionPeriod as number).toBeGreaterThan(
      props(main[1]).MessageRetentionPeriod as number,
    );
  });

  it('has a visibility timeout of at least 6 × the processor timeout', () => {
    const processorTimeout = props(processor()[1]).Timeout as number;
    expect(processorTimeout).toBe(PROCESSOR_TIMEOUT.toSeconds());
    expect(props(queues().main[1]).VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * processorTimeout);
  });

  it('feeds the processor in bounded batches that report partial failures', () => {
    const [, mapping] = only('AWS::Lambda::EventSourceMapping');
    const p = props(mapping);
    expect(refOf(p.EventSourceArn)).toBe(queues().main[0]);
    expect(refOf(p.FunctionName)).toBe(processor()[0]);
    expect(p.BatchSize).toBe(10);
    expect(p.MaximumBatchingWindowInSeconds).toBeGreaterThanOrEqual(1);
    expect(p.MaximumBatchingWindowInSeconds).toBeLessThanOrEqual(5);
    expect(p.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(p.ScalingConfig).toEqual({ MaximumConcurrency: 5 });
  });
});

describe('encryption at rest and in transit', () => {
  it('encrypts both queues (SSE-SQS) and denies non-TLS access to each', () => {
    const { main, dlq } = queues();
    for (const [id, queue] of [main, dlq]) {
      expect(props(queue).SqsManagedSseEnabled).toBe(true);
      const policies = ofType('AWS::SQS::QueuePolicy').filter(([, p]) =>
        list(props(p).Queues).some((q) => refOf(q) === id),
      );
      const statements = policies.flatMap(
        ([, p]) => (props(p).PolicyDocument as { Statement: Statement[] }).Statement,
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('encrypts both tables with one rotating customer-managed key, with PITR, TTL and on-demand billing', () => {
    const expectations = [
      { table: stateTable(), ttl: 'expiresAt' },
      { table: idempotencyTable(), ttl: 'expiration' },
    ];
    const keyIds = new Set<string | undefined>();
    for (const {
      table: [, t],
      ttl,
    } of expectations) {
      const p = props(t);
      const sse = p.SSESpecification as { SSEEnabled: boolean; SSEType: string; KMSMasterKeyId: unknown };
      expect(sse.SSEEnabled).toBe(true);
      expect(sse.SSEType).toBe('KMS');
      keyIds.add(refOf(sse.KMSMasterKeyId));
      expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(p.TimeToLiveSpecification).toEqual({ AttributeName: ttl, Enabled: true });
      expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    }
    expect(keyIds.size).toBe(1);
    const key = resources[[...keyIds][0] as string] as CfnResource;
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(props(key).EnableKeyRotation).toBe(true);
  });

  it('keeps the vehicle-state table and its key when the stack is deleted or the table replaced', () => {
    const [, t] = stateTable();
    expect(t.DeletionPolicy).toBe('Retain');
    expect(t.UpdateReplacePolicy).toBe('Retain');
    expect(props(t).DeletionProtectionEnabled).toBe(true);
    const key =
      resources[refOf((props(t).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId) as string];
    expect(key?.DeletionPolicy).toBe('Retain');
  });

  it('keys the state table on pk/sk and the idempotency table on id (strings)', () => {
    expect(props(stateTable()[1]).KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(props(stateTable()[1]).AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
    );
    expect(props(idempotencyTable()[1]).AttributeDefinitions).toEqual([
      { AttributeName: 'id', AttributeType: 'S' },
    ]);
  });
});

describe('Smartcar secret', () => {
  it('is created with placeholder values only (no credential in the template)', () => {
    const [, secret] = only('AWS::SecretsManager::Secret');
    expect(props(secret).SecretString).toBeUndefined();
    const generate = props(secret).GenerateSecretString as { SecretStringTemplate: string };
    expect(JSON.parse(generate.SecretStringTemplate)).toEqual({
      clientId: 'REPLACE_ME',
      clientSecret: 'REPLACE_ME',
      managementToken: 'REPLACE_ME',
    });
  });

  it('reaches the Lambdas only as SMARTCAR_SECRET_ID (a reference), never as a value', () => {
    // The only variables whose names sound secret, and each is a reference to a resource, not a value.
    const references = ['SMARTCAR_SECRET_ID', 'TOKEN_TABLE_NAME', 'TOKEN_KEY_ID'];
    for (const [, f] of allFunctions()) {
      const env = envOf(f);
      const secretish = Object.keys(env).filter((k) => /secret|token|password|key/i.test(k));
      expect(secretish.filter((k) => !references.includes(k))).toEqual([]);
      for (const name of secretish) expect(refOf(env[name]), name).toBeDefined();
      expect(JSON.stringify(env)).not.toMatch(/REPLACE_ME|managementToken|clientSecret|refreshToken/);
    }
    for (const f of [receiver(), oauthConnect(), oauthCallback(), vehicleDisconnect(), tokenRefresh()]) {
      expect(refOf(envOf(f[1]).SMARTCAR_SECRET_ID)).toBe(secretId());
    }
    expect(envOf(processor()[1]).SMARTCAR_SECRET_ID).toBeUndefined();
    expect(envOf(vehicleRead()[1]).SMARTCAR_SECRET_ID).toBeUndefined();
  });
});

describe('Lambda functions', () => {
  it('run on arm64 with the newest Node.js runtime this aws-cdk-lib offers', () => {
    const newestNode = lambda.Runtime.ALL.filter((r) => r.name.startsWith('nodejs'))
      .map((r) => r.name)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      .at(-1);
    expect(LAMBDA_RUNTIME.name).toBe(newestNode);
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const [, f] of functions) {
      expect(props(f).Runtime).toBe(LAMBDA_RUNTIME.name);
      expect(props(f).Architectures).toEqual(['arm64']);
    }
  });

  it('log to their own log group with a retention (no LogRetention custom resource)', () => {
    for (const [, f] of ofType('AWS::Lambda::Function')) {
      const logGroupId = refOf((props(f).LoggingConfig as { LogGroup: unknown }).LogGroup);
      expect(props(resources[logGroupId as string] as CfnResource).RetentionInDays).toBeGreaterThan(0);
    }
    expect(ofType('Custom::LogRetention')).toEqual([]);
  });

  it('get the environment of docs/design.md', () => {
    const common = {
      POWERTOOLS_SERVICE_NAME: expect.any(String),
      POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    };
    expect(envOf(receiver()[1])).toEqual({
      ...common,
      QUEUE_URL: { Ref: queues().main[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      MAX_BODY_BYTES: '131072',
    });
    expect(envOf(processor()[1])).toEqual({
      ...common,
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      IDEMPOTENCY_TABLE_NAME: { Ref: idempotencyTable()[0] },
      TEST_EVENTS: 'separate',
      DEDUPE_TTL_SECONDS: String(14 * 24 * 3600),
      COMMAND_AUDIT_TABLE_NAME: { Ref: auditTable()[0] },
    });
    expect(envOf(vehicleRead()[1])).toEqual({ ...common, VEHICLE_TABLE_NAME: { Ref: stateTable()[0] } });
  });

  it('keep the receiver inside Smartcar’s 15 s delivery timeout', () => {
    expect(props(receiver()[1]).Timeout as number).toBeLessThanOrEqual(10);
  });

  it('use the handler files named in docs/design.md by default', () => {
    expect(LAMBDA_ENTRIES.receiver).toMatch(/lambdas\/webhook-receiver\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.processor).toMatch(/lambdas\/webhook-processor\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.vehicleRead).toMatch(/lambdas\/vehicle-read\/handler\.ts$/);
  });
});

describe('least privilege', () => {
  it('has no wildcard action or resource and no managed policy in any Lambda role', () => {
    expect(allFunctions()).toHaveLength(8);
    for (const f of allFunctions()) {
      for (const statement of statementsOf(f)) {
        for (const action of list(statement.Action)) expect(action).not.toContain('*');
        for (const resource of list(statement.Resource)) expect(JSON.stringify(resource)).not.toContain('*');
      }
    }
  });

  it('lets the receiver only send to its queue and read its secret (plus write its logs)', () => {
    const statements = statementsOf(receiver());
    expect(new Set(actionsOf(statements))).toEqual(
      new Set([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:SendMessage',
        'secretsmanager:GetSecretValue',
      ]),
    );
    for (const s of statements) {
      const actions = list(s.Action);
      if (actions.includes('sqs:SendMessage')) expect(resourceIds(s)).toEqual([queues().main[0]]);
      if (actions.includes('secretsmanager:GetSecretValue')) expect(resourceIds(s)).toEqual([secretId()]);
      if (actions.some((a) => a.startsWith('logs:'))) {
        expect(resources[resourceIds(s)[0] as string]?.Type).toBe('AWS::Logs::LogGroup');
      }
    }
    expect(allowsAny(statements, 'dynamodb:')).toBe(false);
    expect(allowsAny(statements, 'kms:')).toBe(false);
  });

  it('lets the processor use only its two tables, its queue, the data key and the command audit (confirmations), and not the secret', () => {
    const statements = statementsOf(processor());
    expect(allowsAny(statements, 'secretsmanager:')).toBe(false);
    expect(allowsAny(statements, 'sqs:SendMessage')).toBe(false);
    const tables = new Set([stateTable()[0], idempotencyTable()[0], auditTable()[0]]);
    const dataKey = refOf(
      (props(stateTable()[1]).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId,
    );
    for (const s of statements) {
      const actions = list(s.Action);
      if (actions.some((a) => a.startsWith('dynamodb:'))) {
        for (const id of resourceIds(s)) expect(tables.has(id as string)).toBe(true);
        expect(actions).not.toEqual(
          expect.arrayContaining([expect.stringMatching(/Scan|Table|Backup|Restore|TimeToLive|Export/)]),
        );
      }
      if (actions.some((a) => a.startsWith('kms:'))) {
        expect(resourceIds(s)).toEqual([dataKey]);
        expect(Object.keys(s.Condition?.StringEquals ?? {})).toContain('kms:ViaService');
      }
      if (actions.some((a) => a.startsWith('sqs:'))) expect(resourceIds(s)).toEqual([queues().main[0]]);
    }
    const dynamoResources = statements
      .filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:PutItem')))
      .flatMap(resourceIds);
    expect(new Set(dynamoResources)).toEqual(new Set([stateTable()[0], idempotencyTable()[0]]));
    // On the audit: one Query per lock/charging report and the conditional SENT → CONFIRMED update only.
    const onAudit = statements.filter((s) => resourceIds(s).includes(auditTable()[0]));
    expect(new Set(actionsOf(onAudit))).toEqual(new Set(['dynamodb:Query', 'dynamodb:UpdateItem']));
  });

  it('lets the read Lambda only read items of the state table, query its byAppUser index and decrypt', () => {
    const table = `<${stateTable()[0]}>`;
    expect(permissionsOf(vehicleRead())).toEqual(
      new Set([
        ...each(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], table),
        `dynamodb:Query ${table}/index/byAppUser`,
        `kms:Decrypt <${dataKeyId()}> via DynamoDB`,
      ]),
    );
  });
});

describe('OAuth data', () => {
  it('keeps grants in their own table, encrypted with the token key (not the data key), with PITR', () => {
    const [, t] = tokenTable();
    const p = props(t);
    expect(p.KeySchema).toEqual([{ AttributeName: 'grantId', KeyType: 'HASH' }]);
    // The table key plus the keys of the refresh job's indexes (below).
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'grantId', AttributeType: 'S' },
        { AttributeName: 'dueShard', AttributeType: 'S' },
        { AttributeName: 'refreshExpiresAt', AttributeType: 'N' },
        { AttributeName: 'accessExpiresAt', AttributeType: 'N' },
      ]),
    );
    expect(p.AttributeDefinitions).toHaveLength(4);
    expect(p.SSESpecification).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
    expect(tokenKeyId()).not.toBe(dataKeyId());
    expect(resources[tokenKeyId()]?.Type).toBe('AWS::KMS::Key');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    // Grants are deleted explicitly once unused, never expired by TTL.
    expect(p.TimeToLiveSpecification).toBeUndefined();
  });

  it('keeps the token table and the token key when the stack is deleted or the table replaced', () => {
    const [, t] = tokenTable();
    expect(t.DeletionPolicy).toBe('Retain');
    expect(t.UpdateReplacePolicy).toBe('Retain');
    expect(props(t).DeletionProtectionEnabled).toBe(true);
    const key = resources[tokenKeyId()] as CfnResource;
    expect(key.DeletionPolicy).toBe('Retain');
    expect(props(key).EnableKeyRotation).toBe(true);
    expect(props(key).PendingWindowInDays).toBe(30);
  });

  it('keeps OAuth states in a TTL table (expiresAt) under the data key; short-lived, so no retention', () => {
    const [, t] = oauthStateTable();
    const p = props(t);
    expect(p.KeySchema).toEqual([{ AttributeName: 'state', KeyType: 'HASH' }]);
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(keyOf(oauthStateTable())).toBe(dataKeyId());
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: false });
    expect(t.DeletionPolicy).toBe('Delete');
  });

  it('indexes linked vehicle profiles by app user (GSI byAppUser: appUserId/vehicleId, all attributes)', () => {
    const p = props(stateTable()[1]);
    expect(p.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byAppUser',
        KeySchema: [
          { AttributeName: 'appUserId', KeyType: 'HASH' },
          { AttributeName: 'vehicleId', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'appUserId', AttributeType: 'S' },
        { AttributeName: 'vehicleId', AttributeType: 'S' },
      ]),
    );
  });
});

describe('OAuth Lambdas', () => {
  const common = () => ({
    POWERTOOLS_SERVICE_NAME: expect.any(String),
    POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
  });
  const api = () => `<${only('AWS::ApiGatewayV2::Api')[0]}>`;
  const callbackUrl = () => `https://${api()}.execute-api.us-east-1.<AWS::URLSuffix>/oauth/callback`;

  it('configure connect with the state table, the secret, the redirect URI, mode and scopes', () => {
    const env = envOf(oauthConnect()[1]);
    expect(env).toEqual({
      ...common(),
      OAUTH_STATE_TABLE_NAME: { Ref: oauthStateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      SMARTCAR_REDIRECT_URI: expect.anything(),
      SMARTCAR_MODE: 'live',
      SMARTCAR_DEFAULT_SCOPES: 'read_vehicle_info',
      REQUIRE_HTTPS_URLS: 'true',
    });
    expect(render(env.SMARTCAR_REDIRECT_URI)).toBe(callbackUrl());
  });

  it('configure the callback with both tables, the token key ARN, the pages and https enforcement', () => {
    const env = envOf(oauthCallback()[1]);
    expect(env).toEqual({
      ...common(),
      POWERTOOLS_SERVICE_NAME: 'oauth-callback',
      OAUTH_STATE_TABLE_NAME: { Ref: oauthStateTable()[0] },
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      TOKEN_KEY_ID: { 'Fn::GetAtt': [tokenKeyId(), 'Arn'] },
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      SMARTCAR_REDIRECT_URI: expect.anything(),
      CONNECT_SUCCESS_URL: expect.stringMatching(/^https:\/\/[^/]+\.invalid\//),
      CONNECT_FAILURE_URL: expect.stringMatching(/^https:\/\/[^/]+\.invalid\//),
      REQUIRE_HTTPS_URLS: 'true',
    });
    expect(render(env.SMARTCAR_REDIRECT_URI)).toBe(callbackUrl());
  });

  it('configure disconnect with the tables and the secret only (no token key)', () => {
    expect(envOf(vehicleDisconnect()[1])).toEqual({
      ...common(),
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
    });
  });

  it('use the handler files named in docs/design.md by default', () => {
    expect(LAMBDA_ENTRIES.oauthConnect).toMatch(/lambdas\/oauth-connect\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.oauthCallback).toMatch(/lambdas\/oauth-callback\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.vehicleDisconnect).toMatch(/lambdas\/vehicle-disconnect\/handler\.ts$/);
  });

  it('finish before API Gateway’s 30 s integration timeout; the callback gets the most time and memory', () => {
    for (const f of [vehicleRead(), oauthConnect(), oauthCallback(), vehicleDisconnect()]) {
      expect(props(f[1]).Timeout as number).toBeLessThan(30);
    }
    expect(props(oauthCallback()[1]).Timeout).toBe(29);
    expect(props(oauthCallback()[1]).MemorySize).toBe(512);
    expect(props(oauthConnect()[1]).Timeout as number).toBeLessThanOrEqual(10);
  });

  it('warn at synth while the success/failure pages are placeholders', () => {
    Annotations.fromStack(stack).hasWarning(
      `/${stack.stackName}`,
      Match.stringLikeRegexp('connectSuccessUrl and connectFailureUrl not set'),
    );
  });
});

describe('least privilege (OAuth)', () => {
  const tableArn = (t: () => [string, CfnResource]) => `<${t()[0]}>`;
  const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

  it('lets connect only put state records and read the secret', () => {
    expect(permissionsOf(oauthConnect())).toEqual(
      new Set([
        `dynamodb:PutItem ${tableArn(oauthStateTable)}`,
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('lets the callback consume states, write grants and profiles, and only encrypt tokens in their context', () => {
    expect(permissionsOf(oauthCallback())).toEqual(
      new Set([
        `dynamodb:UpdateItem ${tableArn(oauthStateTable)}`,
        ...each(
          ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          tableArn(tokenTable),
        ),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        // Direct use: encrypt only (it never reads a stored token), and only under the token context.
        `kms:Encrypt <${tokenKeyId()}> with token context`,
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('lets disconnect update profiles and grants through DynamoDB, with no direct use of the token key', () => {
    expect(permissionsOf(vehicleDisconnect())).toEqual(
      new Set([
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('gives the receiver, processor and read Lambda nothing on the token table, the token key or state table', () => {
    for (const f of [receiver(), processor(), vehicleRead()]) {
      const granted = [...permissionsOf(f)].join('\n');
      for (const id of [tokenTable()[0], tokenKeyId(), oauthStateTable()[0]])
        expect(granted).not.toContain(id);
    }
  });

  it('grants the token key to the callback, disconnect and refresh roles only, and crypto outside DynamoDB to the callback (encrypt) and the refresh job (encrypt, decrypt) only', () => {
    const onTokenKey = identityStatements().filter(({ statement }) =>
      list(statement.Resource).some((r) => render(r).includes(`<${tokenKeyId()}>`)),
    );
    expect(new Set(onTokenKey.flatMap(({ roles }) => roles))).toEqual(
      new Set([
        roleOf(oauthCallback()),
        roleOf(vehicleDisconnect()),
        roleOf(tokenRefresh()),
        roleOf(vehicleCommand()),
      ]),
    );
    const direct = onTokenKey
      .filter(({ statement }) => !isDeepStrictEqual(statement.Condition, viaDynamoDb()))
      .map(({ roles, statement }) => ({
        roles,
        effect: statement.Effect,
        actions: list(statement.Action).sort(),
        condition: statement.Condition,
      }));
    expect(direct).toEqual(
      expect.arrayContaining([
        {
          roles: [roleOf(oauthCallback())],
          effect: 'Allow',
          actions: ['kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        {
          roles: [roleOf(tokenRefresh())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        // getAccessToken: decrypts the access token, refreshes (and re-encrypts) an expiring pair.
        {
          roles: [roleOf(vehicleCommand())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
      ]),
    );
    expect(direct).toHaveLength(3);
    // And nothing reaches any key through a wildcard resource.
    for (const { statement } of identityStatements()) {
      if (actionsOf([statement]).some((a) => a.startsWith('kms:'))) {
        expect(list(statement.Resource)).not.toContain('*');
      }
    }
  });

  it('denies direct crypto with the token key in its key policy to everyone but the callback and refresh roles', () => {
    const policy = props(resources[tokenKeyId()] as CfnResource).KeyPolicy as { Statement: Statement[] };
    const denies = policy.Statement.filter((s) => s.Effect === 'Deny');
    expect(denies).toEqual([
      expect.objectContaining({
        Principal: { AWS: '*' },
        Action: expect.arrayContaining([
          'kms:Decrypt',
          'kms:Encrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
        ]),
        Resource: '*',
        Condition: {
          // Not for use through DynamoDB (the table's encryption at rest), ...
          StringNotEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` },
          // ... not for the callback and refresh roles (the two that grantTokenCrypto names), ...
          ArnNotEquals: {
            'aws:PrincipalArn': [
              { 'Fn::GetAtt': [roleOf(oauthCallback()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(tokenRefresh()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(vehicleCommand()), 'Arn'] },
            ],
          },
          // ... and not for AWS services (DynamoDB's grant for background work).
          Bool: { 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    ]);
    // The account keeps administering the key: the only Allow is the default delegation to IAM.
    const allows = policy.Statement.filter((s) => s.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(render((allows[0]?.Principal as { AWS: unknown }).AWS)).toMatch(
      /^arn:aws:iam::<AWS::AccountId>:root$/,
    );
  });
});

describe('token refresh', () => {
  const tableArn = (t: () => [string, CfnResource]) => `<${t()[0]}>`;
  const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];
  const ruleArn = () => ({ 'Fn::GetAtt': [scheduleRule()[0], 'Arn'] });
  const dlqArn = () => ({ 'Fn::GetAtt': [refreshDlq()[0], 'Arn'] });

  it('adds two sparse GSIs keyed on dueShard and the expiries, projecting only what a run needs to claim', () => {
    const index = (name: string, sortKey: string, otherExpiry: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: 'dueShard', KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      // Never ALL: the token ciphertexts stay out of the indexes (the same definition as local/stand-ins/dynamodb-tables.ts).
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['version', otherExpiry] },
    });
    expect(props(tokenTable()[1]).GlobalSecondaryIndexes).toEqual([
      index('byRefreshExpiry', 'refreshExpiresAt', 'accessExpiresAt'),
      index('byAccessExpiry', 'accessExpiresAt', 'refreshExpiresAt'),
    ]);
  });

  it('configures the job as docs/design.md says (names and ARNs, no secret values; warming off by default)', () => {
    const env = envOf(tokenRefresh()[1]);
    expect(env).toEqual({
      POWERTOOLS_SERVICE_NAME: 'token-refresh',
      POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      TOKEN_KEY_ID: { 'Fn::GetAtt': [tokenKeyId(), 'Arn'] },
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      // The same redirect URI the grants were issued for.
      SMARTCAR_REDIRECT_URI: envOf(oauthCallback()[1]).SMARTCAR_REDIRECT_URI,
      REFRESH_WINDOW_DAYS: '7',
      ACCESS_WARM_WINDOW_MINUTES: '0',
      REFRESH_CONCURRENCY: '10',
      REFRESH_LEASE_SECONDS: '60',
    });
    expect(LAMBDA_ENTRIES.tokenRefresh).toMatch(/lambdas\/token-refresh\/handler\.ts$/);
  });

  it('gives a run 5 minutes and 512 MB, and lets only one run at a time', () => {
    const p = props(tokenRefresh()[1]);
    expect(p.Timeout).toBe(TOKEN_REFRESH_TIMEOUT.toSeconds());
    expect(p.Timeout).toBe(300);
    expect(p.MemorySize).toBe(512);
    expect(p.ReservedConcurrentExecutions).toBe(1);
    // No other function reserves concurrency.
    const reserving = allFunctions().filter(([, f]) => props(f).ReservedConcurrentExecutions !== undefined);
    expect(reserving.map(([id]) => id)).toEqual([tokenRefresh()[0]]);
  });

  it('runs every 15 minutes by default: EventBridge retries the hand-over twice and dead-letters what it cannot deliver', () => {
    const [, rule] = scheduleRule();
    expect(props(rule).ScheduleExpression).toBe('rate(15 minutes)');
    expect(props(rule).State).toBe('ENABLED');
    expect(props(rule).Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: { 'Fn::GetAtt': [tokenRefresh()[0], 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 },
        DeadLetterConfig: { Arn: dlqArn() },
      },
    ]);
    // The default scheduled event is passed on (its `time` is the run's "now"): no Input override.
    // Invoked through the function's resource policy, for this rule only.
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => refOf(props(p).FunctionName) === tokenRefresh()[0],
    );
    expect(permissions.map(([, p]) => props(p))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [tokenRefresh()[0], 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: ruleArn(),
      },
    ]);
  });

  it('does not retry a failed run in Lambda, drops a run that could not start before the next one, and records both in the DLQ', () => {
    const [, config] = only('AWS::Lambda::EventInvokeConfig');
    expect(props(config)).toEqual({
      FunctionName: { Ref: tokenRefresh()[0] },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 900,
      DestinationConfig: { OnFailure: { Destination: dlqArn() } },
    });
  });

  it('keeps failed runs 14 days in an encrypted, TLS-only DLQ that only this rule may send to from EventBridge', () => {
    const [id, dlq] = refreshDlq();
    expect(id).not.toBe(queues().dlq[0]);
    expect(props(dlq).SqsManagedSseEnabled).toBe(true);
    expect(props(dlq).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(props(dlq).RedrivePolicy).toBeUndefined();
    const [, policy] = only('AWS::SQS::QueuePolicy', (p) =>
      list(props(p).Queues).some((q) => refOf(q) === id),
    );
    const statements = (props(policy).PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: dlqArn(),
        Condition: { ArnEquals: { 'aws:SourceArn': ruleArn() } },
      }),
    ]);
  });

  it('lets the job use grants, the refresh-expiry index, profiles, the token key in token context, the secret and its DLQ; nothing else', () => {
    expect(permissionsOf(tokenRefresh())).toEqual(
      new Set([
        // Claim, read, persist, mark NEEDS_REAUTH, delete emptied grants. No Put, no Scan.
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        // The due grants; the access-expiry index only while warming is on (off by default).
        `dynamodb:Query ${tableArn(tokenTable)}/index/byRefreshExpiry`,
        // Profiles of a dead grant's vehicles → NEEDS_REAUTH; it never reads them.
        `dynamodb:UpdateItem ${tableArn(stateTable)}`,
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        // Direct use of the token key: decrypt the refresh token, encrypt the new pair, only in token context.
        ...each(['kms:Encrypt', 'kms:Decrypt'], `<${tokenKeyId()}>`, ' with token context'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
        // Lambda's failure record of a failed run (SendMessage only, no GetQueueAttributes/GetQueueUrl).
        `sqs:SendMessage <${refreshDlq()[0]}>`,
      ]),
    );
  });

  it('is, with the command Lambda (getAccessToken), the only role that may decrypt tokens directly', () => {
    const decryptors = identityStatements().filter(
      ({ statement }) =>
        list(statement.Action).includes('kms:Decrypt') &&
        list(statement.Resource).some((r) => render(r).includes(`<${tokenKeyId()}>`)) &&
        !isDeepStrictEqual(statement.Condition, viaDynamoDb()),
    );
    expect(new Set(decryptors.flatMap(({ roles }) => roles))).toEqual(
      new Set([roleOf(tokenRefresh()), roleOf(vehicleCommand())]),
    );
  });

  it('alarms on-call on failures in 3 runs in a row, a burst of NEEDS_REAUTH, crashes, and a schedule that stopped', () => {
    const [topicId] = only('AWS::SNS::Topic');
    const refreshAlarms = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => {
      const p = props(a);
      return (
        (p.Namespace === stack.metricsNamespace && String(p.MetricName).startsWith('TokenRefresh')) ||
        list(p.Dimensions as { Value: unknown }[]).some((d) => refOf(d.Value) === tokenRefresh()[0])
      );
    });
    const byMetric = Object.fromEntries(refreshAlarms.map(([, a]) => [props(a).MetricName, props(a)]));
    expect(Object.keys(byMetric).sort()).toEqual(
      ['Errors', 'Invocations', 'TokenRefreshFailed', 'TokenRefreshNeedsReauth'].sort(),
    );
    // Powertools' default dimension set: exactly `service` = the job's POWERTOOLS_SERVICE_NAME.
    const service = [{ Name: 'service', Value: envOf(tokenRefresh()[1]).POWERTOOLS_SERVICE_NAME }];
    expect(byMetric.TokenRefreshFailed).toMatchObject({
      Namespace: stack.metricsNamespace,
      Dimensions: service,
      Statistic: 'Sum',
      // One 15-minute period per run; all 3 must have failures.
      Period: 900,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(byMetric.TokenRefreshNeedsReauth).toMatchObject({
      Namespace: stack.metricsNamespace,
      Dimensions: service,
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 1,
      Threshold: 10,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(byMetric.Errors).toMatchObject({
      Namespace: 'AWS/Lambda',
      Period: 900,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    // No invocation in an hour (4 scheduled runs) is the failure itself: missing data breaches.
    expect(byMetric.Invocations).toMatchObject({
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: tokenRefresh()[0] } }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    for (const [, alarm] of refreshAlarms) {
      expect(list(props(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
      expect(list(props(alarm).OKActions).map(refOf)).toEqual([topicId]);
    }
  });

  it('outputs the function name (for on-demand runs) and its DLQ', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.TokenRefreshFunctionName?.Value).toEqual({ Ref: tokenRefresh()[0] });
    expect(outputs.TokenRefreshDeadLetterQueueUrl?.Value).toEqual({ Ref: refreshDlq()[0] });
  });
});

describe('operations', () => {
  const alarmOn = (metric: string, dimensionRef: string) =>
    only(
      'AWS::CloudWatch::Alarm',
      (a) =>
        props(a).MetricName === metric &&
        list(props(a).Dimensions as { Value: unknown }[]).some((d) => refOf(d.Value) === dimensionRef),
    )[1];

  it('alarms the encrypted on-call topic when the DLQ has a message, on errors, 5xx and queue age', () => {
    const [topicId, topic] = only('AWS::SNS::Topic');
    expect(refOf(props(topic).KmsMasterKeyId)).toBeDefined();
    const alarms = [
      alarmOn('ApproximateNumberOfMessagesVisible', queues().dlq[0]),
      alarmOn('Errors', receiver()[0]),
      alarmOn('Errors', processor()[0]),
      alarmOn('ApproximateAgeOfOldestMessage', queues().main[0]),
      alarmOn('5xx', only('AWS::ApiGatewayV2::Api')[0]),
      alarmOn('Errors', oauthConnect()[0]),
      alarmOn('Errors', oauthCallback()[0]),
      alarmOn('Errors', vehicleDisconnect()[0]),
    ];
    for (const alarm of alarms) {
      expect(list(props(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
    }
    const dlqAlarm = alarms[0] as CfnResource;
    expect(props(dlqAlarm).Threshold).toBe(0);
    expect(props(dlqAlarm).ComparisonOperator).toBe('GreaterThanThreshold');
  });

  it('alarms on failed Connect callbacks with a valid state (the callback’s ConnectFailed metric)', () => {
    const [topicId] = only('AWS::SNS::Topic');
    const [, alarm] = only('AWS::CloudWatch::Alarm', (a) =>
      JSON.stringify(props(a).Metrics ?? '').includes('ConnectFailed'),
    );
    const metrics = props(alarm).Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] }; Stat: string };
    }[];
    const stat = (id: string) => metrics.find((m) => m.Id === id)?.MetricStat;
    // Powertools writes the metric with the `service` dimension (the POWERTOOLS_SERVICE_NAME) ...
    expect(stat('failed')).toEqual({
      Metric: {
        Namespace: stack.metricsNamespace,
        MetricName: 'ConnectFailed',
        Dimensions: [{ Name: 'service', Value: envOf(oauthCallback()[1]).POWERTOOLS_SERVICE_NAME }],
      },
      Period: 900,
      Stat: 'Sum',
    });
    // ... and once more with its reason; failures anybody can cause on the public route (no valid state) are
    // not counted.
    expect(stat('invalidState')?.Metric.Dimensions).toEqual(
      expect.arrayContaining([{ Name: 'reason', Value: 'invalid_state' }]),
    );
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('FILL(failed, 0) - FILL(invalidState, 0)');
    expect(props(alarm).Threshold as number).toBeGreaterThan(1);
    expect(list(props(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
  });

  it('only accepts TLS publishes on the topic and has no e-mail subscription unless configured', () => {
    const [, policy] = only('AWS::SNS::TopicPolicy');
    expect((props(policy).PolicyDocument as { Statement: Statement[] }).Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(ofType('AWS::SNS::Subscription')).toEqual([]);
  });

  it('outputs the URLs and names an operator needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs as Record<string, unknown>);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'WebhookUrl',
        'SmartcarSecretId',
        'WebhookQueueUrl',
        'DeadLetterQueueUrl',
        'VehicleStateTableName',
        'OAuthCallbackUrl',
        'ConnectUrl',
      ]),
    );
    expect(JSON.stringify(template.toJSON().Outputs.WebhookUrl)).toContain('/webhooks/smartcar');
    const values = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    // The URL to register in the Smartcar Dashboard is exactly the redirect URI the Lambdas use.
    expect(values.OAuthCallbackUrl?.Value).toEqual(envOf(oauthCallback()[1]).SMARTCAR_REDIRECT_URI);
    expect(render(values.ConnectUrl?.Value)).toMatch(/\/connect$/);
  });
});

describe('stack', () => {
  it('is named after the stage and pinned to a region (us-east-1 when nothing else is set)', () => {
    expect(stack.stackName).toBe('Smartcar-dev');
    expect(stack.region).toBe('us-east-1');
  });
});

describe('cdk-nag (AWS Solutions)', () => {
  it('reports no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a real reason', () => {
    const acknowledgements = app.node
      .findAll()
      .flatMap((c: IConstruct) => c.node.metadata)
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [rule, reason] of acknowledgements) {
      expect(rule).toMatch(/AwsSolutions-/);
      expect(reason.length, rule).toBeGreaterThan(60);
    }
  });
});

describe('vehicle commands', () => {
  const tableArn = (t: () => [string, CfnResource]) => `<${t()[0]}>`;
  const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

  it('gives the command Lambda exactly what getAccessToken, the checks and the audit use', () => {
    expect(permissionsOf(vehicleCommand())).toEqual(
      new Set([
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        ...each(
          ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          tableArn(auditTable),
        ),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        // Only under the token encryption context: a ciphertext moved to another grant does not decrypt.
        `kms:Decrypt <${tokenKeyId()}> with token context`,
        `kms:Encrypt <${tokenKeyId()}> with token context`,
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('never lets the command Lambda delete or scan the audit', () => {
    const onAudit = statementsOf(vehicleCommand()).filter((s) =>
      list(s.Resource).some((r) => render(r).startsWith(`<${auditTable()[0]}>`)),
    );
    expect(actionsOf(onAudit)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/DeleteItem|Scan|BatchWrite/)]),
    );
  });

  it('keeps the command Lambda under API Gateway’s 30 s and gives it its environment', () => {
    const [, f] = vehicleCommand();
    expect(props(f).Timeout as number).toBeLessThan(30);
    expect(envOf(f)).toMatchObject({
      COMMAND_AUDIT_TABLE_NAME: { Ref: auditTable()[0] },
      COMMAND_AUDIT_DAYS: '90',
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      TOKEN_KEY_ID: expect.anything(),
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      SMARTCAR_REDIRECT_URI: expect.anything(),
    });
  });

  it('keeps the audit table with a TTL, encrypted, point-in-time recoverable and retained', () => {
    const [, t] = auditTable();
    expect(props(t).TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(t.DeletionPolicy).toBe('Retain');
    expect(props(t).SSESpecification).toMatchObject({ SSEEnabled: true });
    expect(props(t).PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it('pages on-call on command Lambda errors and on a spike of UNKNOWN outcomes', () => {
    const [topicId] = only('AWS::SNS::Topic');
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => props(a));
    const unknown = alarms.find((a) => a.MetricName === 'CommandOutcomeUnknown');
    expect(unknown).toMatchObject({
      Namespace: stack.metricsNamespace,
      Dimensions: [{ Name: 'service', Value: 'vehicle-command' }],
    });
    const errors = alarms.find(
      (a) =>
        a.MetricName === 'Errors' &&
        list(a.Dimensions as { Value: unknown }[]).some((d) => refOf(d.Value) === vehicleCommand()[0]),
    );
    expect(errors).toBeDefined();
    for (const alarm of [unknown, errors]) {
      expect(list(alarm?.AlarmActions).map(refOf)).toEqual([topicId]);
    }
  });
});
