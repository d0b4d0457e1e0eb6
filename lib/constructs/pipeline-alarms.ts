import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { onCallAlarm, type OnCallAlarmSpec } from './on-call-alarm.js';

/** Counted by the processor (service dimension only) for each message it quarantines. */
export const EVENTS_QUARANTINED_METRIC = 'EventsQuarantined';

export interface PipelineAlarmsProps {
  readonly topic: sns.ITopic;
  readonly stage: apigwv2.IHttpStage;
  readonly receiver: lambda.IFunction;
  readonly processor: lambda.IFunction;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** Namespace and service of the processor's EMF metrics (the quarantine alarm). */
  readonly metricsNamespace: string;
  readonly processorServiceName: string;
  /** Alarm when the oldest queued webhook is older than this. @default 10 minutes */
  readonly maxMessageAge?: Duration;
}

const PERIOD = Duration.minutes(5);

/**
 * The minimum on-call alarms of the webhook pipeline, each notifying the on-call topic when it fires and
 * when it recovers. Missing data (no traffic) is healthy. Dashboards come later.
 */
export class PipelineAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    this.action = new actions.SnsAction(props.topic);
    const maxAge = props.maxMessageAge ?? Duration.minutes(10);

    this.add('DeadLetterQueueNotEmpty', {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: PERIOD,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'Webhook events failed processing 5 times and wait in the DLQ (kept 14 days). Check the processor ' +
        'logs, fix the cause, then redrive the DLQ to the webhook queue.',
    });

    this.add('ReceiverErrors', {
      metric: props.receiver.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'The webhook receiver Lambda failed (crash or timeout): Smartcar gets a 5xx and retries only 3 times ' +
        'within 3 minutes before dropping the event.',
    });

    this.add('Api5xx', {
      metric: props.stage.metricServerError({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'The HTTP API answered 5xx on some route (see the routeKey in the access logs): receiver error or ' +
        'SQS unavailable (Smartcar retries a webhook only 3 times before dropping it), integration failure, ' +
        'or a 5xx from a read, connect or disconnect Lambda (e.g. 502 when Smartcar refused a disconnect).',
    });

    this.add('ProcessorErrors', {
      metric: props.processor.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'The webhook processor Lambda failed a whole invocation (crash, timeout or bad configuration), ' +
        'so the batch returns to the queue. Per-record failures show up in the DLQ alarm instead.',
    });

    this.add('EventsQuarantined', {
      metric: new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: EVENTS_QUARANTINED_METRIC,
        // Exactly the dimension set the processor writes this total with (the per-event-type counts carry
        // another dimension and are a different CloudWatch metric).
        dimensionsMap: { service: props.processorServiceName },
        statistic: cloudwatch.Stats.SUM,
        period: PERIOD,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'The processor quarantined webhook bodies it can never store (not JSON, no vehicle id, a number or ' +
        'nesting DynamoDB cannot hold, too many vehicles). They were acknowledged, not retried: Query the ' +
        'vehicle-state table for pk = QUARANTINE (raw body and reason, kept 14 days), fix the cause, replay.',
    });

    this.add('QueueBacklogAge', {
      metric: props.queue.metricApproximateAgeOfOldestMessage({
        period: PERIOD,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: maxAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Two periods: a short burst that the bounded processor concurrency drains quickly is not a page.
      evaluationPeriods: 2,
      alarmDescription:
        `The oldest webhook in the queue is older than ${maxAge.toMinutes()} minutes: vehicle state is ` +
        'stale. The processor is failing, throttled, or its maximum concurrency is too low for the load.',
    });
  }

  private add(id: string, spec: OnCallAlarmSpec): cloudwatch.Alarm {
    const alarm = onCallAlarm(this, id, this.action, spec);
    this.alarms.push(alarm);
    return alarm;
  }
}
