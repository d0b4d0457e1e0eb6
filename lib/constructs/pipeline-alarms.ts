import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTIONS, METRICS } from '../../contracts/index.js';
import {
  deadLetterQueueAlarms,
  functionAlarms,
  onCallAlarm,
  routeAlarms,
  serviceMetric,
  type RouteAlarmOptions,
} from './on-call-alarm.js';

/** Thresholds and periods of the pipeline's alarms; every one has a default. */
export interface PipelineAlarmSettings {
  /** Alarm when the oldest queued webhook is older than this. @default 10 minutes */
  readonly maxMessageAge?: Duration;
  /** Receiver p99 duration that pages; Smartcar's latency alert is 5 s (its timeout 15 s). @default 5 seconds */
  readonly maxReceiverP99?: Duration;
  /**
   * Rejected signatures within 5 minutes that page. Smartcar always signs, so these are probes or, many at
   * once, a management token in the secret that does not match the Dashboard. @default 5
   */
  readonly signatureFailureThreshold?: number;
  /**
   * Hours without a single queued webhook, while the token table holds ACTIVE grants, that page. A delivery
   * outage (webhook disabled in the Dashboard, a wrong callback URI, Smartcar down) is silent otherwise. Raise
   * it for a small fleet of mostly parked cars (a parked car may send nothing for hours); 0 = no such alarm.
   * @default 6
   */
  readonly webhookSilenceHours?: number;
  /** The webhook route's 5xx-rate and 4xx-spike alarms. */
  readonly route?: RouteAlarmOptions;
}

export interface PipelineAlarmsProps extends PipelineAlarmSettings {
  readonly topic: sns.ITopic;
  readonly stage: apigwv2.IHttpStage;
  readonly metricsNamespace: string;
  readonly receiver: lambda.IFunction;
  readonly processor: lambda.IFunction;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
}

const PERIOD = Duration.minutes(5);

/** The on-call alarms of the webhook pipeline (RUNBOOK.md has a section for each). */
export class PipelineAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const maxAge = props.maxMessageAge ?? Duration.minutes(10);
    const maxP99 = props.maxReceiverP99 ?? Duration.seconds(5);
    const signatureThreshold = props.signatureFailureThreshold ?? 5;
    const silenceHours = props.webhookSilenceHours ?? 6;
    const receiverMetric = (name: string, period: Duration = PERIOD) =>
      serviceMetric(props.metricsNamespace, FUNCTIONS.receiver.serviceName, name, period);

    this.alarms.push(
      ...deadLetterQueueAlarms(this, 'WebhookDeadLetterQueue', props.deadLetterQueue, action, {
        notEmpty:
          'Webhook events failed processing 5 times and wait in the DLQ (kept 14 days). Check the processor ' +
          'logs, fix the cause, then `npm run redrive`.',
      }),
      ...functionAlarms(this, 'Receiver', props.receiver, action, {
        impact: 'Smartcar gets a 5xx and retries only 3 times within 3 minutes before dropping the event.',
      }),
      ...functionAlarms(this, 'Processor', props.processor, action, {
        impact:
          'The whole batch returns to the queue (per-record failures show up in the DLQ alarm instead).',
      }),
      ...routeAlarms(this, 'Webhook', props.stage, FUNCTIONS.receiver.routes[0], action, props.route),
    );

    this.alarms.push(
      onCallAlarm(this, 'WebhookQueueAge', action, {
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
      }),
      onCallAlarm(this, 'ReceiverLatency', action, {
        metric: props.receiver.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.p(99) }),
        threshold: maxP99.toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // Three periods in a row: one slow cold start is no page, a sustained slowdown is.
        evaluationPeriods: 3,
        alarmDescription:
          `The receiver's p99 duration is over ${maxP99.toSeconds()} s (Smartcar gives up after 15 s): SQS or ` +
          'Secrets Manager slow, or cold starts piling up.',
      }),
      onCallAlarm(this, 'SignatureFailures', action, {
        metric: receiverMetric(METRICS.signatureFailures),
        threshold: signatureThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription:
          `${signatureThreshold} or more webhooks with a missing or wrong SC-Signature within 5 minutes. A ` +
          'management token in the secret that does not match the Smartcar Dashboard shows up here first (a ' +
          'VERIFY that passes does not prove the token is right); otherwise someone is probing the endpoint.',
      }),
      onCallAlarm(this, 'EventsQuarantined', action, {
        // The service-only total (the per-event-type counts carry another dimension: another metric).
        metric: serviceMetric(
          props.metricsNamespace,
          FUNCTIONS.processor.serviceName,
          METRICS.eventsQuarantined,
          PERIOD,
        ),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription:
          'The processor quarantined webhook bodies it can never store (not JSON, no vehicle id, a number or ' +
          'nesting DynamoDB cannot hold, too many vehicles). They were acknowledged, not retried: Query the ' +
          'vehicle-state table for pk = QUARANTINE (raw body and reason, kept 14 days), fix the cause, replay.',
      }),
      onCallAlarm(this, 'SmartcarSecretNotConfigured', action, {
        metric: receiverMetric(METRICS.secretNotConfigured),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription:
          'The receiver refused a webhook because the Smartcar secret still holds the placeholder: every ' +
          'delivery and VERIFY is answered 503 until the real values are put.',
        runbook: 'smartcar-secret-not-configured',
      }),
    );

    if (silenceHours > 0) {
      const hour = Duration.hours(1);
      this.alarms.push(
        onCallAlarm(this, 'WebhooksSilent', action, {
          // Only the receiver may send to the webhook queue (its policy), so what SQS counts as sent is what the
          // receiver accepted; the refresh job publishes the ACTIVE grants every run.
          metric: new cloudwatch.MathExpression({
            label: 'no webhook in the hour while grants are active',
            expression: 'IF(FILL(FILL(grants, REPEAT), 0) > 0 AND FILL(sent, 0) < 1, 1, 0)',
            usingMetrics: {
              sent: props.queue.metricNumberOfMessagesSent({ period: hour, statistic: cloudwatch.Stats.SUM }),
              grants: serviceMetric(
                props.metricsNamespace,
                FUNCTIONS.tokenRefresh.serviceName,
                METRICS.connectedGrants,
                hour,
                cloudwatch.Stats.MAXIMUM,
              ),
            },
            period: hour,
          }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: silenceHours,
          // A stack without connected vehicles, or whose refresh job does not run (its own alarm), is not silent.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription:
            `No webhook was queued for ${silenceHours} hours although vehicles are connected: deliveries ` +
            'stopped (webhook disabled or its callback URI changed in the Smartcar Dashboard, every delivery ' +
            'refused, or Smartcar itself).',
        }),
      );
    }
  }
}
