import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSmartcarApp } from '../../lib/app.js';
import { FUNCTION_IDS, FUNCTIONS } from '../../contracts/index.js';
import { cdkJson, list, refOf, THIS_FILE, type CfnResource, type Statement } from './stack-template.js';
import { standInEntries } from './stand-in-entries.js';

/**
 * Operations: every alarm (metric, threshold, missing data, actions) and its RUNBOOK.md section, the webhook
 * queue's policy, the stage-dependent retention, tags, tracing, log retention and level, the webhook route's
 * throttling and the dashboard. Synthesized here with the context an operator would pass.
 */

interface Synthesized {
  readonly stackName: string;
  readonly resources: Record<string, CfnResource>;
}

function synth(context: Record<string, unknown>): Synthesized {
  const { stack } = createSmartcarApp({
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } },
    env: {},
    entries: standInEntries(THIS_FILE),
  });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, CfnResource>;
  return { stackName: stack.stackName, resources };
}

const ofType = (s: Synthesized, type: string) =>
  Object.entries(s.resources).filter(([, r]) => r.Type === type);
const p = (r: CfnResource) => r.Properties ?? {};

let dev: Synthesized;
let prod: Synthesized;
/** Alarm id (the name without `<stack>-`) → its properties. */
let alarms: Map<string, Record<string, unknown>>;

beforeAll(() => {
  // Every optional alarm on: the edge front's (its web ACL in the stack, us-east-1); a non-default silence.
  dev = synth({ webhookSilenceHours: 9, logLevel: 'DEBUG', owner: 'team-cars', edgeProtection: 'on' });
  prod = synth({ stage: 'prod', owner: 'team-cars' });
  alarms = new Map(
    ofType(dev, 'AWS::CloudWatch::Alarm').map(([, a]) => [
      String(p(a).AlarmName).replace(`${dev.stackName}-`, ''),
      p(a),
    ]),
  );
});

const metricOf = (alarm: Record<string, unknown>) => ({
  namespace: alarm.Namespace,
  name: alarm.MetricName,
  statistic: alarm.Statistic ?? alarm.ExtendedStatistic,
  dimensions: list(alarm.Dimensions as { Name: string; Value: unknown }[]).map((d) => d.Name),
});

describe('on-call alarms', () => {
  it('all notify the one on-call topic when they fire and when they recover, under <stack>-<id>', () => {
    const [[topicId]] = ofType(dev, 'AWS::SNS::Topic') as [[string, CfnResource]];
    expect(alarms.size).toBeGreaterThanOrEqual(40);
    for (const [id, alarm] of alarms) {
      expect(alarm.AlarmName, id).toBe(`${dev.stackName}-${id}`);
      expect(list(alarm.AlarmActions).map(refOf), id).toEqual([topicId]);
      expect(list(alarm.OKActions).map(refOf), id).toEqual([topicId]);
      expect(String(alarm.AlarmDescription), id).toMatch(/ Runbook: RUNBOOK\.md#[a-z0-9-]+$/);
    }
  });

  it('watch Errors and Throttles of every Lambda', () => {
    const functions = ofType(dev, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(FUNCTION_IDS.length);
    for (const [fnId] of functions) {
      for (const metric of ['Errors', 'Throttles']) {
        const watching = [...alarms.values()].filter(
          (a) =>
            a.MetricName === metric &&
            list(a.Dimensions as { Value: unknown }[]).some((d) => refOf(d.Value) === fnId),
        );
        expect(watching, `${metric} of ${fnId}`).toHaveLength(1);
        expect(watching[0]).toMatchObject({
          Namespace: 'AWS/Lambda',
          Statistic: 'Sum',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
        });
      }
    }
  });

  it('watch the 5xx rate (over 5 % of at least 10 requests) and 4xx spikes of every route', () => {
    const routes = FUNCTION_IDS.flatMap(
      (id) => FUNCTIONS[id].routes as readonly { method: string; path: string }[],
    );
    const rates = [...alarms.entries()].filter(([id]) => id.endsWith('5xxRate'));
    const spikes = [...alarms.entries()].filter(([id]) => id.endsWith('4xxSpike'));
    expect(rates).toHaveLength(routes.length);
    expect(spikes).toHaveLength(routes.length);
    const routeOf = (metric: {
      MetricStat?: { Metric: { Dimensions: { Name: string; Value: unknown }[] } };
    }) => {
      const dims = Object.fromEntries(
        (metric.MetricStat?.Metric.Dimensions ?? []).map((d) => [d.Name, d.Value]),
      );
      return `${String(dims.Method)} ${String(dims.Resource)}`;
    };
    const watched = rates.map(([, alarm]) => {
      const metrics = alarm.Metrics as {
        Id: string;
        Expression?: string;
        MetricStat?: {
          Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
          Stat: string;
        };
      }[];
      expect(metrics.find((m) => m.Expression)?.Expression).toBe(
        'IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)',
      );
      expect(metrics.find((m) => m.Id === 'errors')?.MetricStat?.Metric.MetricName).toBe('5xx');
      expect(alarm).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold' });
      return routeOf(metrics.find((m) => m.Id === 'requests') ?? {});
    });
    expect(new Set(watched)).toEqual(new Set(routes.map((r) => `${r.method} ${r.path}`)));
    for (const [, spike] of spikes) {
      expect(spike).toMatchObject({
        MetricName: '4xx',
        Statistic: 'Sum',
        Threshold: 100,
        Namespace: 'AWS/ApiGateway',
      });
    }
  });

  it.each([
    [
      'SignatureFailures',
      {
        namespace: 'Smartcar/dev',
        name: 'WebhookSignatureFailures',
        statistic: 'Sum',
        dimensions: ['service'],
      },
      { Threshold: 5, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' },
    ],
    [
      'SmartcarSecretNotConfigured',
      {
        namespace: 'Smartcar/dev',
        name: 'SmartcarSecretNotConfigured',
        statistic: 'Sum',
        dimensions: ['service'],
      },
      { Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    ],
    [
      'CallbackSecretNotConfigured',
      {
        namespace: 'Smartcar/dev',
        name: 'SmartcarSecretNotConfigured',
        statistic: 'Sum',
        dimensions: ['service'],
      },
      { Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    ],
    [
      'ReceiverLatency',
      { namespace: 'AWS/Lambda', name: 'Duration', statistic: 'p99', dimensions: ['FunctionName'] },
      { Threshold: 5000, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold' },
    ],
    [
      'WebhookQueueAge',
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateAgeOfOldestMessage',
        statistic: 'Maximum',
        dimensions: ['QueueName'],
      },
      { Threshold: 600, EvaluationPeriods: 2 },
    ],
    [
      'WebhookDeadLetterQueueNotEmpty',
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        statistic: 'Maximum',
        dimensions: ['QueueName'],
      },
      { Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    ],
    [
      'WebhookDeadLetterQueueAge',
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateAgeOfOldestMessage',
        statistic: 'Maximum',
        dimensions: ['QueueName'],
      },
      { Threshold: 10 * 86400, ComparisonOperator: 'GreaterThanThreshold' },
    ],
    [
      'TokenRefreshDeadLetterQueueNotEmpty',
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        statistic: 'Maximum',
        dimensions: ['QueueName'],
      },
      { Threshold: 0 },
    ],
    [
      'TokenRefreshNotRunning',
      { namespace: 'AWS/Lambda', name: 'Invocations', statistic: 'Sum', dimensions: ['FunctionName'] },
      { Threshold: 1, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' },
    ],
  ])('%s watches its metric with its threshold and missing-data treatment', (id, metric, settings) => {
    const alarm = alarms.get(id);
    expect(alarm, id).toBeDefined();
    expect(metricOf(alarm as Record<string, unknown>)).toEqual(metric);
    expect(alarm).toMatchObject(settings);
  });

  it('page after 6 hours by default without a webhook sent to the queue while grants are active', () => {
    const silent = ofType(prod, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => p(a))
      .find((a) => String(a.AlarmName).endsWith('-WebhooksSilent'));
    expect(silent).toMatchObject({
      Threshold: 1,
      EvaluationPeriods: 6,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      // No data (no grants yet, or the refresh job not running, which has its own alarm) is no page.
      TreatMissingData: 'notBreaching',
    });
    const queries = list((silent as Record<string, unknown>).Metrics) as {
      Id: string;
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: { Metric: Record<string, unknown>; Period: number; Stat: string };
    }[];
    const expression = queries.find((q) => q.Expression !== undefined);
    expect(expression?.Expression).toBe('IF(FILL(FILL(grants, REPEAT), 0) > 0 AND FILL(sent, 0) < 1, 1, 0)');
    const sent = queries.find((q) => q.Id === 'sent')?.MetricStat;
    expect(sent).toMatchObject({ Period: 3600, Stat: 'Sum' });
    expect(sent?.Metric).toMatchObject({ Namespace: 'AWS/SQS', MetricName: 'NumberOfMessagesSent' });
    const [[queueId]] = ofType(prod, 'AWS::SQS::Queue').filter(([id]) =>
      /WebhookQueue(?!.*Dead)/.test(id),
    ) as [[string, CfnResource]];
    const queueName = list(sent?.Metric.Dimensions as { Value: unknown }[])[0]?.Value;
    expect(JSON.stringify(queueName)).toContain(queueId);
    const grants = queries.find((q) => q.Id === 'grants')?.MetricStat;
    expect(grants).toMatchObject({ Period: 3600, Stat: 'Maximum' });
    expect(grants?.Metric).toMatchObject({ MetricName: 'ConnectedGrants' });
    expect(list(grants?.Metric.Dimensions as { Name: string; Value: unknown }[])).toEqual([
      { Name: 'service', Value: FUNCTIONS.tokenRefresh.serviceName },
    ]);
  });

  it('follow webhookSilenceHours, and have no silence alarm when it is 0', () => {
    expect(alarms.get('WebhooksSilent')).toMatchObject({ EvaluationPeriods: 9 });
    const off = synth({ webhookSilenceHours: 0 });
    const names = ofType(off, 'AWS::CloudWatch::Alarm').map(([, a]) => String(p(a).AlarmName));
    expect(names.some((name) => name.endsWith('-WebhooksSilent'))).toBe(false);
  });
});

/** RUNBOOK.md's alarm sections: heading anchor → the alarm names on its `Alarms:` line. */
function runbookSections(): Map<string, string[]> {
  const text = readFileSync(new URL('../../RUNBOOK.md', import.meta.url), 'utf8');
  const alarmsPart = text.split(/^## Alarms$/m)[1]?.split(/^## /m)[0] ?? '';
  const sections = new Map<string, string[]>();
  for (const block of alarmsPart.split(/^### /m).slice(1)) {
    const heading = block.split('\n')[0]?.trim() ?? '';
    const anchor = heading
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replace(/ /g, '-');
    const line = /^Alarms: ([\s\S]*?)\n\n/m.exec(block)?.[1] ?? '';
    sections.set(
      anchor,
      [...line.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1] as string),
    );
    expect(block, `section ${heading} says what it means and what to do`).toMatch(
      /\*\*Meaning\.\*\*[\s\S]*\*\*Fix\.\*\*/,
    );
  }
  return sections;
}

describe('RUNBOOK.md', () => {
  it('has a section for every alarm, and every section is for an alarm', () => {
    const sections = runbookSections();
    const documented = [...sections.values()].flat();
    expect(new Set(documented).size, 'an alarm in one section only').toBe(documented.length);
    expect(new Set(documented)).toEqual(new Set(alarms.keys()));
    for (const [anchor, names] of sections) expect(names.length, `section ${anchor}`).toBeGreaterThan(0);
  });

  it('is the section each alarm description links to', () => {
    const sections = runbookSections();
    for (const [id, alarm] of alarms) {
      const anchor = /RUNBOOK\.md#([a-z0-9-]+)$/.exec(String(alarm.AlarmDescription))?.[1] ?? '';
      expect(sections.get(anchor), `${id} → #${anchor}`).toContain(id);
    }
  });
});

describe('hardening', () => {
  it('lets only the receiver role send to the webhook queue', () => {
    const [[queueId, queue]] = ofType(dev, 'AWS::SQS::Queue').filter(([, q]) => p(q).RedrivePolicy) as [
      [string, CfnResource],
    ];
    expect(queue).toBeDefined();
    const [, policy] = ofType(dev, 'AWS::SQS::QueuePolicy').find(([, qp]) =>
      list(p(qp).Queues).some((q) => refOf(q) === queueId),
    ) as [string, CfnResource];
    const statements = (p(policy).PolicyDocument as { Statement: (Statement & { Sid?: string })[] })
      .Statement;
    const deny = statements.find((s) => s.Sid === 'OnlyTheReceiverSends');
    const [receiverId] = ofType(dev, 'AWS::Lambda::Function').find(([, f]) =>
      String(p(f).Description).startsWith('Smartcar webhook receiver'),
    ) as [string, CfnResource];
    const receiverRole = refOf(p(dev.resources[receiverId] as CfnResource).Role);
    expect(deny).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sqs:SendMessage' });
    const allowed = list(deny?.Condition?.ArnNotLike?.['aws:PrincipalArn']);
    expect(allowed.map(refOf)).toEqual([receiverRole]);
  });

  it('adds the operator roles of queueSenderArns to the queue policy (for npm run redrive)', () => {
    const withOperator = synth({ queueSenderArns: 'arn:aws:iam::123456789012:role/oncall-*' });
    const text = JSON.stringify(ofType(withOperator, 'AWS::SQS::QueuePolicy').map(([, qp]) => p(qp)));
    expect(text).toContain('arn:aws:iam::123456789012:role/oncall-*');
  });

  it.each([
    ['AWS::DynamoDB::Table', 2],
    ['AWS::KMS::Key', 2],
    ['AWS::SQS::Queue', 2],
    ['AWS::SecretsManager::Secret', 1],
  ])('retains %s in prod and lets dev destroy it', (type, atLeast) => {
    const stateful = (s: Synthesized) =>
      ofType(s, type).filter(([id, r]) => {
        if (type === 'AWS::DynamoDB::Table')
          return !['IdempotencyTable', 'OAuthStateTable'].some((n) => id.includes(n));
        if (type === 'AWS::KMS::Key') return !id.includes('OnCall');
        if (type === 'AWS::SQS::Queue') return id.includes('WebhookQueue');
        return r !== undefined;
      });
    expect(stateful(prod).length).toBeGreaterThanOrEqual(atLeast);
    for (const [id, r] of stateful(prod)) expect(r.DeletionPolicy, `prod ${id}`).toBe('Retain');
    for (const [id, r] of stateful(dev)) expect(r.DeletionPolicy, `dev ${id}`).toBe('Delete');
    if (type === 'AWS::DynamoDB::Table') {
      for (const [, r] of stateful(prod)) expect(p(r).DeletionProtectionEnabled).toBe(true);
    }
    if (type === 'AWS::KMS::Key')
      for (const [, r] of ofType(dev, type)) expect(p(r).EnableKeyRotation).toBe(true);
  });

  it('throttles the webhook route apart from the other routes, sized for a 100k fleet', () => {
    const [[, stage]] = ofType(dev, 'AWS::ApiGatewayV2::Stage') as [[string, CfnResource]];
    expect(p(stage).DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 100,
      ThrottlingBurstLimit: 200,
      DetailedMetricsEnabled: true,
    });
    expect(p(stage).RouteSettings).toEqual({
      'POST /webhooks/smartcar': {
        ThrottlingRateLimit: 1000,
        ThrottlingBurstLimit: 2000,
        DetailedMetricsEnabled: true,
      },
    });
  });
});

describe('logs, traces, tags and the dashboard', () => {
  it('traces every function with X-Ray and logs at the configured level', () => {
    for (const [id, f] of ofType(dev, 'AWS::Lambda::Function')) {
      expect(p(f).TracingConfig, id).toEqual({ Mode: 'Active' });
      const env = (p(f).Environment as { Variables: Record<string, string> }).Variables;
      expect(env.POWERTOOLS_LOG_LEVEL, id).toBe('DEBUG');
    }
  });

  it('gives every log group a retention', () => {
    const groups = ofType(dev, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(FUNCTION_IDS.length + 1);
    for (const [id, g] of groups) expect(p(g).RetentionInDays, id).toBeGreaterThan(0);
  });

  it('tags resources with service, stage and owner', () => {
    const [[, table]] = ofType(prod, 'AWS::DynamoDB::Table') as [[string, CfnResource]];
    expect(p(table).Tags).toEqual(
      expect.arrayContaining([
        { Key: 'service', Value: 'smartcar-integration' },
        { Key: 'stage', Value: 'prod' },
        { Key: 'owner', Value: 'team-cars' },
      ]),
    );
  });

  it('has one dashboard per stage with routes, queues, outcomes and every alarm', () => {
    const [[, board]] = ofType(dev, 'AWS::CloudWatch::Dashboard') as [[string, CfnResource]];
    expect(p(board).DashboardName).toBe(dev.stackName);
    const body = JSON.stringify(p(board).DashboardBody);
    for (const text of [
      'POST /webhooks/smartcar',
      'Processor outcomes',
      'DuplicateEvents',
      'StaleSignalsSkipped',
      'ConnectFailed',
      'TokenRefreshFailed',
      'ApproximateAgeOfOldestMessage',
    ]) {
      expect(body).toContain(text);
    }
    // The alarm status widget lists every alarm (by ARN).
    expect(
      body.match(/arn:.*?:alarm:/g)?.length ?? (body.match(/Fn::GetAtt/g) ?? []).length,
    ).toBeGreaterThanOrEqual(1);
  });
});
