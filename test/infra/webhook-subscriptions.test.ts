import { beforeAll, describe, expect, it } from 'vitest';
import { SUBSCRIPTION_MAX_ATTEMPTS } from '../../contracts/index.js';
import {
  dataKeyId,
  each,
  envOf,
  ofType,
  oauthCallback,
  only,
  permissionsOf,
  props,
  recoveryQueues,
  refOf,
  secretId,
  stack,
  stateTable,
  subscriptionQueueId,
  subscriptionWorker,
  synthesizeStack,
  tokenKeyId,
  tokenTable,
  vehicleSubscriptions,
} from './stack-template.js';

beforeAll(synthesizeStack);

const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

describe('webhook subscriptions', () => {
  it('feeds the worker from its own queue, in batches that report partial failures, with a DLQ after the last attempt', () => {
    const queueId = subscriptionQueueId();
    const [, mapping] = only(
      'AWS::Lambda::EventSourceMapping',
      (m) => refOf(props(m).EventSourceArn) === queueId,
    );
    expect(refOf(props(mapping).FunctionName)).toBe(subscriptionWorker()[0]);
    expect(props(mapping).FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    const [, queue] = only(
      'AWS::SQS::Queue',
      (q) => q === ofType('AWS::SQS::Queue').find(([id]) => id === queueId)?.[1],
    );
    const redrive = props(queue).RedrivePolicy as { maxReceiveCount: number; deadLetterTargetArn: unknown };
    expect(redrive.maxReceiveCount).toBe(SUBSCRIPTION_MAX_ATTEMPTS);
    // The worker marks the record FAILED on exactly the receive after which SQS dead-letters the message.
    expect(envOf(subscriptionWorker()[1]).SUBSCRIPTION_MAX_ATTEMPTS).toBe(String(SUBSCRIPTION_MAX_ATTEMPTS));
    expect(refOf(envOf(subscriptionWorker()[1]).SUBSCRIPTION_QUEUE_URL)).toBe(queueId);
  });

  it('lets the worker read profiles, write records, rotate grants, decrypt tokens in their context and postpone its own messages', () => {
    const granted = permissionsOf(subscriptionWorker());
    for (const permission of [
      ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], `<${stateTable()[0]}>`),
      ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], `<${tokenTable()[0]}>`),
      ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
      `kms:Decrypt <${tokenKeyId()}> with token context`,
      `kms:Encrypt <${tokenKeyId()}> with token context`,
      `secretsmanager:GetSecretValue <${secretId()}>`,
      `sqs:ChangeMessageVisibility <${subscriptionQueueId()}>`,
    ]) {
      expect(granted).toContain(permission);
    }
    // It never creates items, and sends messages only to park a rotated pair it could not store.
    expect(
      [...granted].filter((p) => p.startsWith('dynamodb:PutItem') || p.startsWith('sqs:SendMessage')),
    ).toEqual([`sqs:SendMessage <${recoveryQueues().main[0]}>`]);
  });

  it('lets the re-run Lambda read and mark records, scan only the linked-profile index, and queue; nothing on tokens', () => {
    const granted = [...permissionsOf(vehicleSubscriptions())];
    expect(granted).toContain(`sqs:SendMessage <${subscriptionQueueId()}>`);
    expect(granted.filter((p) => p.startsWith('dynamodb:Scan'))).toEqual([
      expect.stringContaining('/index/byAppUser'),
    ]);
    expect(granted.join('\n')).not.toContain(tokenTable()[0]);
    expect(granted.join('\n')).not.toContain(tokenKeyId());
    expect(envOf(vehicleSubscriptions()[1]).SMARTCAR_WEBHOOK_IDS).toBe('');
    expect(envOf(oauthCallback()[1]).SMARTCAR_WEBHOOK_IDS).toBe('');
  });

  it('alarms on-call on dead letters (and their age), failed subscriptions and unsubscriptions, unqueued subscriptions and worker crashes and throttles', () => {
    const byMetric = ofType('AWS::CloudWatch::Alarm')
      .map(([, a]) => props(a))
      .filter(
        (p) =>
          (p.Namespace === stack.metricsNamespace &&
            ['SubscriptionsFailed', 'UnsubscribeFailed', 'SubscriptionScheduleFailed'].includes(
              String(p.MetricName),
            )) ||
          (p.Dimensions as { Value: unknown }[] | undefined)?.some(
            (d) =>
              refOf(d.Value) === subscriptionWorker()[0] ||
              String(JSON.stringify(d.Value)).includes('SubscriptionQueueDeadLetter'),
          ),
      )
      .map((p) => String(p.MetricName))
      .sort();
    expect(byMetric).toEqual(
      [
        'ApproximateAgeOfOldestMessage',
        'ApproximateNumberOfMessagesVisible',
        'Errors',
        'Throttles',
        'SubscriptionsFailed',
        'UnsubscribeFailed',
      ].sort(),
    );
    // Subscriptions that could not be queued, by whichever links the vehicles: the callback (confirmation off)
    // or the confirm.
    const unqueued = ofType('AWS::CloudWatch::Alarm')
      .map(([, a]) => props(a))
      .find((p) => String(p.AlarmName).endsWith('-SubscriptionScheduleFailed'));
    const sources = (unqueued?.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[] | undefined)
      ?.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
      .map((m) => ({
        name: m.MetricName,
        service: (m.Dimensions as { Value: unknown }[] | undefined)?.[0]?.Value,
      }));
    expect(sources).toEqual(
      expect.arrayContaining([
        { name: 'SubscriptionScheduleFailed', service: 'oauth-callback' },
        { name: 'SubscriptionScheduleFailed', service: 'connect-confirm' },
      ]),
    );
    expect(unqueued?.Threshold).toBe(0);
  });
});
