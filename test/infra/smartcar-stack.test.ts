import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allFunctions,
  app,
  type CfnResource,
  envOf,
  idempotencyTable,
  list,
  oauthCallback,
  oauthConnect,
  ofType,
  only,
  processor,
  props,
  queues,
  receiver,
  refOf,
  render,
  resources,
  secretId,
  stack,
  type Statement,
  stateTable,
  synthesizeStack,
  template,
  tokenRefresh,
  vehicleDisconnect,
  vehicleRead,
} from './stack-template.js';

/** The composition (lib/smartcar-stack.ts): shared stores, alarms, outputs, cdk-nag. */

beforeAll(synthesizeStack);

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
    const references = ['SMARTCAR_SECRET_ID', 'TOKEN_TABLE_NAME', 'TOKEN_KEY_ID', 'TOKEN_RECOVERY_QUEUE_URL'];
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
