import { isDeepStrictEqual } from 'node:util';
import { LAMBDA_ENTRIES } from '../../lib/entries.js';
import { TOKEN_REFRESH_TIMEOUT } from '../../lib/features/token-refresh.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allFunctions,
  connectExpiry,
  connectionReconcile,
  type CfnResource,
  dataKeyId,
  each,
  envOf,
  identityStatements,
  list,
  oauthCallback,
  ofType,
  only,
  permissionsOf,
  props,
  queues,
  recoveryQueues,
  refOf,
  refreshDlq,
  render,
  roleOf,
  scheduleRule,
  secretId,
  stack,
  type Statement,
  stateTable,
  synthesizeStack,
  template,
  tokenKeyId,
  tokenRefresh,
  subscriptionWorker,
  tokenTable,
  viaDynamoDb,
  vehicleCommand,
} from './stack-template.js';

/** The scheduled token refresh (lib/features/token-refresh.ts). */

beforeAll(synthesizeStack);

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
      TOKEN_RECOVERY_QUEUE_URL: { Ref: recoveryQueues().main[0] },
    });
    expect(LAMBDA_ENTRIES.tokenRefresh).toMatch(/lambdas\/token-refresh\/handler\.ts$/);
  });

  it('gives a run 5 minutes and 512 MB, and lets only one run at a time', () => {
    const p = props(tokenRefresh()[1]);
    expect(p.Timeout).toBe(TOKEN_REFRESH_TIMEOUT.toSeconds());
    expect(p.Timeout).toBe(300);
    expect(p.MemorySize).toBe(512);
    expect(p.ReservedConcurrentExecutions).toBe(1);
    // No function but the scheduled jobs reserves concurrency.
    const reserving = allFunctions().filter(([, f]) => props(f).ReservedConcurrentExecutions !== undefined);
    expect(reserving.map(([id]) => id).sort()).toEqual(
      [tokenRefresh()[0], connectExpiry()[0], connectionReconcile()[0]].sort(),
    );
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
    const [, config] = only(
      'AWS::Lambda::EventInvokeConfig',
      (c) => refOf(props(c).FunctionName) === tokenRefresh()[0],
    );
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

  it('lets the job use grants, the refresh-expiry index, the table item counts, profiles, the token key in token context, the secret and its DLQ; nothing else', () => {
    expect(permissionsOf(tokenRefresh())).toEqual(
      new Set([
        // Claim, read, persist, mark NEEDS_REAUTH, delete emptied grants. No Put, no Scan.
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        // The due grants; the access-expiry index only while warming is on (off by default).
        `dynamodb:Query ${tableArn(tokenTable)}/index/byRefreshExpiry`,
        // The ConnectedGrants gauge: DynamoDB's item count of that index, no item reads; the table ARN only.
        `dynamodb:DescribeTable ${tableArn(tokenTable)}`,
        // Profiles of a dead grant's vehicles → NEEDS_REAUTH; it never reads them.
        `dynamodb:UpdateItem ${tableArn(stateTable)}`,
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        // Direct use of the token key: decrypt the refresh token, encrypt the new pair, only in token context.
        ...each(['kms:Encrypt', 'kms:Decrypt'], `<${tokenKeyId()}>`, ' with token context'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
        // Lambda's failure record of a failed run (SendMessage only, no GetQueueAttributes/GetQueueUrl).
        `sqs:SendMessage <${refreshDlq()[0]}>`,
        // Park a pair it could not store, sealed under a data key bound to its grant; apply it next run.
        ...each(['kms:GenerateDataKey', 'kms:Decrypt'], `<${tokenKeyId()}>`, ' with recovery context'),
        ...each(
          ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage'],
          `<${recoveryQueues().main[0]}>`,
        ),
      ]),
    );
  });

  it('is, with the command Lambda and the subscription worker (getAccessToken) and the connect expiry job, the only role that may decrypt tokens directly', () => {
    const decryptors = identityStatements().filter(
      ({ statement }) =>
        list(statement.Action).includes('kms:Decrypt') &&
        list(statement.Resource).some((r) => render(r).includes(`<${tokenKeyId()}>`)) &&
        !isDeepStrictEqual(statement.Condition, viaDynamoDb()),
    );
    // Tokens (token context) and the data keys of parked rotations (recovery context) for the refresh job;
    // getAccessToken's refresh for the command Lambda and the subscription worker; the connect expiry job
    // (decrypt only: the access token of a pending grant whose vehicles are unknown).
    expect(new Set(decryptors.flatMap(({ roles }) => roles))).toEqual(
      new Set([
        roleOf(tokenRefresh()),
        roleOf(vehicleCommand()),
        roleOf(subscriptionWorker()),
        roleOf(connectExpiry()),
      ]),
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
      ['Errors', 'Invocations', 'Throttles', 'TokenRefreshFailed', 'TokenRefreshNeedsReauth'].sort(),
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
    for (const metric of ['Errors', 'Throttles']) {
      expect(byMetric[metric]).toMatchObject({
        Namespace: 'AWS/Lambda',
        Period: 900,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
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

  it('parks unstorable pairs in an SSE-SQS (not KMS), TLS-only recovery queue kept 14 days, with a DLQ after 10 runs', () => {
    const { main, dlq } = recoveryQueues();
    expect(main[0]).not.toBe(queues().main[0]);
    for (const [, queue] of [main, dlq]) {
      // Not the token CMK: parking must work while KMS is down; the body is sealed under the CMK itself.
      expect(props(queue).SqsManagedSseEnabled).toBe(true);
      expect(props(queue).KmsMasterKeyId).toBeUndefined();
      expect(props(queue).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
    // Hidden for the rest of the run that received it; visible again to the next run.
    expect(props(main[1]).VisibilityTimeout).toBe(TOKEN_REFRESH_TIMEOUT.toSeconds());
    expect(props(main[1]).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlq[0], 'Arn'] },
      maxReceiveCount: 10,
    });
    for (const [id] of [main, dlq]) {
      const [, policy] = only('AWS::SQS::QueuePolicy', (p) =>
        list(props(p).Queues).some((q) => refOf(q) === id),
      );
      expect((props(policy).PolicyDocument as { Statement: Statement[] }).Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    // Only the job receives from it; the on-demand refreshes (command Lambda, subscription worker) only park.
    const users = identityStatements().filter(({ statement }) =>
      list(statement.Resource).some((r) => [main[0], dlq[0]].includes(refOf(r) ?? '')),
    );
    const consumers = users.filter(({ statement }) =>
      list(statement.Action).some((a) => a !== 'sqs:SendMessage'),
    );
    expect(new Set(consumers.flatMap(({ roles }) => roles))).toEqual(new Set([roleOf(tokenRefresh())]));
    expect(new Set(users.flatMap(({ roles }) => roles))).toEqual(
      new Set([roleOf(tokenRefresh()), roleOf(vehicleCommand()), roleOf(subscriptionWorker())]),
    );
  });

  it('pages on any pair that needed the fallback, any pair lost, and any parked pair in the recovery DLQ', () => {
    const [topicId] = only('AWS::SNS::Topic');
    // Every function that rotates may park: the job and the on-demand refreshes of getAccessToken.
    const services = [tokenRefresh(), vehicleCommand(), subscriptionWorker()]
      .map(([, fn]) => envOf(fn).POWERTOOLS_SERVICE_NAME)
      .sort();
    interface MetricQuery {
      Id: string;
      Expression?: string;
      MetricStat?: {
        Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
        Period: number;
        Stat: string;
      };
    }
    for (const metric of ['TokenRotationParked', 'TokenRotationNotPersisted']) {
      const queriesOf = (a: CfnResource) => list(props(a).Metrics) as MetricQuery[];
      const [, alarm] = only('AWS::CloudWatch::Alarm', (a) =>
        queriesOf(a).some((q) => q.MetricStat?.Metric.MetricName === metric),
      );
      const queries = queriesOf(alarm);
      const stats = queries.filter((q) => q.MetricStat !== undefined);
      expect(stats.map((q) => q.MetricStat?.Metric.Dimensions)).toEqual(
        expect.arrayContaining(services.map((Value) => [{ Name: 'service', Value }])),
      );
      expect(stats).toHaveLength(services.length);
      for (const { MetricStat } of stats) {
        expect(MetricStat).toMatchObject({
          Metric: { Namespace: stack.metricsNamespace, MetricName: metric },
          Period: 900,
          Stat: 'Sum',
        });
      }
      // The sum over every series (a series without a datapoint must not blank out the others).
      const [expression] = queries.filter((q) => q.Expression !== undefined);
      expect(expression?.Expression).toBe(`SUM([${stats.map((q) => q.Id).join(', ')}])`);
      expect(props(alarm)).toMatchObject({
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(list(props(alarm).AlarmActions).map(refOf)).toEqual([topicId]);
    }
    const [, dlqAlarm] = only(
      'AWS::CloudWatch::Alarm',
      (a) =>
        props(a).MetricName === 'ApproximateNumberOfMessagesVisible' &&
        list(props(a).Dimensions as { Value: unknown }[]).some((d) => {
          const value = d.Value as { 'Fn::GetAtt'?: unknown[] };
          return value['Fn::GetAtt']?.[0] === recoveryQueues().dlq[0];
        }),
    );
    expect(props(dlqAlarm)).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    expect(list(props(dlqAlarm).AlarmActions).map(refOf)).toEqual([topicId]);
  });

  it('outputs the function name (for on-demand runs) and its DLQ', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.TokenRefreshFunctionName?.Value).toEqual({ Ref: tokenRefresh()[0] });
    expect(outputs.TokenRefreshDeadLetterQueueUrl?.Value).toEqual({ Ref: refreshDlq()[0] });
  });
});
