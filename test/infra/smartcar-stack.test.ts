import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
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
} from '../../lib/smartcar-stack.js';

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
    entries: { receiver: THIS_FILE, processor: THIS_FILE, vehicleRead: THIS_FILE },
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

const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => list(s.Action));
const resourceIds = (s: Statement): (string | undefined)[] => list(s.Resource).map(refOf);
const allowsAny = (statements: Statement[], prefix: string) =>
  actionsOf(statements.filter((s) => s.Effect === 'Allow')).some((a) => a.startsWith(prefix));

function queues() {
  const main = only('AWS::SQS::Queue', (q) => props(q).RedrivePolicy !== undefined);
  const dlq = only('AWS::SQS::Queue', (q) => props(q).RedrivePolicy === undefined);
  return { main, dlq };
}
const table = (partitionKey: string) =>
  only('AWS::DynamoDB::Table', (t) =>
    list(props(t).KeySchema as { AttributeName: string; KeyType: string }[]).some(
      (k) => k.KeyType === 'HASH' && k.AttributeName === partitionKey,
    ),
  );
const stateTable = () => table('pk');
const idempotencyTable = () => table('id');
const secretId = () => only('AWS::SecretsManager::Secret')[0];

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

  it('has no other routes (no $default catch-all)', () => {
    expect(ofType('AWS::ApiGatewayV2::Route').map(([, r]) => props(r).RouteKey)).toHaveLength(2);
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
    expect(props(stateTable()[1]).AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ]);
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
    for (const [, f] of ofType('AWS::Lambda::Function')) {
      const env = envOf(f);
      const secretish = Object.keys(env).filter((k) => /secret|token|password|key/i.test(k));
      expect(secretish.filter((k) => k !== 'SMARTCAR_SECRET_ID')).toEqual([]);
      expect(JSON.stringify(env)).not.toMatch(/REPLACE_ME|managementToken|clientSecret/);
    }
    expect(refOf(envOf(receiver()[1]).SMARTCAR_SECRET_ID)).toBe(secretId());
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
    for (const f of [receiver(), processor(), vehicleRead()]) {
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

  it('lets the processor use only its two tables, its queue and the data key, and not the secret', () => {
    const statements = statementsOf(processor());
    expect(allowsAny(statements, 'secretsmanager:')).toBe(false);
    expect(allowsAny(statements, 'sqs:SendMessage')).toBe(false);
    const tables = new Set([stateTable()[0], idempotencyTable()[0]]);
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
    expect(new Set(dynamoResources)).toEqual(tables);
  });

  it('lets the read Lambda only read items of the state table and decrypt', () => {
    const statements = statementsOf(vehicleRead());
    const actions = actionsOf(statements).filter((a) => !a.startsWith('logs:'));
    expect(new Set(actions)).toEqual(
      new Set(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'kms:Decrypt']),
    );
    for (const s of statements.filter((x) => list(x.Action).some((a) => a.startsWith('dynamodb:')))) {
      expect(resourceIds(s)).toEqual([stateTable()[0]]);
    }
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
    ];
    for (const alarm of alarms) {
      expect(list(props(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
    }
    const dlqAlarm = alarms[0] as CfnResource;
    expect(props(dlqAlarm).Threshold).toBe(0);
    expect(props(dlqAlarm).ComparisonOperator).toBe('GreaterThanThreshold');
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
      ]),
    );
    expect(JSON.stringify(template.toJSON().Outputs.WebhookUrl)).toContain('/webhooks/smartcar');
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
