import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { routeKey, type RouteContract } from '../../contracts/index.js';

export type OnCallAlarmSpec = Omit<cloudwatch.AlarmProps, 'evaluationPeriods' | 'alarmName'> & {
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /**
   * The RUNBOOK.md section for this alarm: the anchor of its heading (GitHub's slug). The section lists the
   * alarm's name (`id`) on its `Alarms:` line; a test checks both directions.
   * @default the alarm's id, lowercased (a section titled with the alarm's name)
   */
  readonly runbook?: string;
};

/** RUNBOOK.md anchor of the section shared by every function's Errors alarm. */
export const FUNCTION_ERRORS_RUNBOOK = 'function-errors';
export const FUNCTION_THROTTLES_RUNBOOK = 'function-throttles';
export const ROUTE_5XX_RUNBOOK = 'route-5xx-rate';
export const ROUTE_4XX_RUNBOOK = 'route-4xx-spike';

/**
 * An alarm that notifies `action` (the on-call topic) when it fires and when it recovers. Missing data
 * means no traffic, which is healthy, unless the spec says otherwise. Its name is `<stack>-<id>` (what the
 * on-call engineer sees in the page and in the console) and its description ends with its RUNBOOK.md section:
 * adding an alarm is this call plus the alarm's name in a runbook section.
 */
export function onCallAlarm(
  scope: Construct,
  id: string,
  action: cloudwatch.IAlarmAction,
  spec: OnCallAlarmSpec,
): cloudwatch.Alarm {
  const { runbook, ...props } = spec;
  const description = props.alarmDescription ? `${props.alarmDescription} ` : '';
  const alarm = new cloudwatch.Alarm(scope, id, {
    evaluationPeriods: 1,
    // No data means no traffic, which is not an incident.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    ...props,
    alarmName: `${Stack.of(scope).stackName}-${id}`,
    alarmDescription: `${description}Runbook: RUNBOOK.md#${runbook ?? id.toLowerCase()}`,
  });
  alarm.addAlarmAction(action);
  // Also tell on-call when it is over.
  alarm.addOkAction(action);
  return alarm;
}

export interface FunctionAlarmOptions {
  /** Errors (crashes, timeouts) per period that page. @default more than 0 */
  readonly errorThreshold?: number;
  /** Throttled invocations per period that page. @default more than 0 */
  readonly throttleThreshold?: number;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** What a failure of this function means for users, said in the Errors alarm's description. */
  readonly impact: string;
}

/**
 * `<name>Errors` and `<name>Throttles` of one Lambda. Throttles page because every caller here is on a clock:
 * Smartcar drops a webhook after about 3 minutes of retries, an owner's browser waits on the callback, and a
 * throttled SQS poll burns receive counts towards the DLQ.
 */
export function functionAlarms(
  scope: Construct,
  name: string,
  fn: lambda.IFunction,
  action: cloudwatch.IAlarmAction,
  options: FunctionAlarmOptions,
): cloudwatch.Alarm[] {
  const period = options.period ?? Duration.minutes(5);
  return [
    onCallAlarm(scope, `${name}Errors`, action, {
      metric: fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: options.errorThreshold ?? 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `The ${name} Lambda crashed or timed out. ${options.impact}`,
      runbook: FUNCTION_ERRORS_RUNBOOK,
    }),
    onCallAlarm(scope, `${name}Throttles`, action, {
      metric: fn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: options.throttleThreshold ?? 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        `Lambda refused to run the ${name} function (concurrency exhausted: the account's unreserved ` +
        'pool, or its own reserved concurrency).',
      runbook: FUNCTION_THROTTLES_RUNBOOK,
    }),
  ];
}

export interface RouteAlarmOptions {
  /** Share of requests answered 5xx (percent) that pages. @default 5 (Smartcar's 95 % success target) */
  readonly max5xxPercent?: number;
  /** Requests per period below which the 5xx rate is not judged (one failure out of two is not a rate). @default 10 */
  readonly minRequests?: number;
  /** 4xx answers per period that page as a spike. @default 100 */
  readonly max4xx?: number;
  /** @default 5 minutes */
  readonly period?: Duration;
}

/** A per-route metric of an HTTP API stage (needs detailed metrics on the stage). */
export function routeMetric(
  stage: apigwv2.IHttpStage,
  route: RouteContract,
  metricName: string,
  statistic: string,
  period: Duration,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/ApiGateway',
    metricName,
    dimensionsMap: {
      ApiId: stage.api.apiId,
      Stage: stage.stageName,
      Resource: route.path,
      Method: route.method,
    },
    statistic,
    period,
  });
}

/**
 * `<name>5xxRate` (share of 5xx among the route's requests) and `<name>4xxSpike` (a count) of one route.
 * A rate, not a count, for 5xx: Smartcar recommends alerting when delivery success falls under 95 %.
 */
export function routeAlarms(
  scope: Construct,
  name: string,
  stage: apigwv2.IHttpStage,
  route: RouteContract,
  action: cloudwatch.IAlarmAction,
  options: RouteAlarmOptions = {},
): cloudwatch.Alarm[] {
  const period = options.period ?? Duration.minutes(5);
  const max5xxPercent = options.max5xxPercent ?? 5;
  const minRequests = options.minRequests ?? 10;
  const max4xx = options.max4xx ?? 100;
  const key = routeKey(route);
  return [
    onCallAlarm(scope, `${name}5xxRate`, action, {
      metric: new cloudwatch.MathExpression({
        // 0 while there are fewer than minRequests requests, so a lone failure on a quiet route is no page.
        expression: `IF(requests >= ${minRequests}, 100 * FILL(errors, 0) / requests, 0)`,
        usingMetrics: {
          requests: routeMetric(stage, route, 'Count', cloudwatch.Stats.SUM, period),
          errors: routeMetric(stage, route, '5xx', cloudwatch.Stats.SUM, period),
        },
        label: `${key} 5xx %`,
        period,
      }),
      threshold: max5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `More than ${max5xxPercent} % of ${key} requests were answered 5xx.`,
      runbook: ROUTE_5XX_RUNBOOK,
    }),
    onCallAlarm(scope, `${name}4xxSpike`, action, {
      metric: routeMetric(stage, route, '4xx', cloudwatch.Stats.SUM, period),
      threshold: max4xx,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `More than ${max4xx} ${key} requests were answered 4xx within ${period.toMinutes()} minutes.`,
      runbook: ROUTE_4XX_RUNBOOK,
    }),
  ];
}

/** A Powertools metric of one Lambda (`service` dimension only, as Powertools writes it by default). */
export function serviceMetric(
  namespace: string,
  service: string,
  metricName: string,
  period: Duration,
  statistic: string = cloudwatch.Stats.SUM,
): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { service }, statistic, period });
}

export interface DeadLetterQueueAlarmOptions {
  /** Alarm when the oldest message is older than this: SQS deletes it at the retention. @default 10 days */
  readonly maxAge?: Duration;
}

/**
 * `<name>NotEmpty` (any message waits) and `<name>Age` (the oldest is about to be deleted by SQS's retention)
 * of a dead-letter queue.
 */
export function deadLetterQueueAlarms(
  scope: Construct,
  name: string,
  queue: sqs.IQueue,
  action: cloudwatch.IAlarmAction,
  description: { readonly notEmpty: string; readonly runbook?: string },
  options: DeadLetterQueueAlarmOptions = {},
): cloudwatch.Alarm[] {
  const maxAge = options.maxAge ?? Duration.days(10);
  const period = Duration.minutes(5);
  return [
    onCallAlarm(scope, `${name}NotEmpty`, action, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: description.notEmpty,
      ...(description.runbook !== undefined && { runbook: description.runbook }),
    }),
    onCallAlarm(scope, `${name}Age`, action, {
      metric: queue.metricApproximateAgeOfOldestMessage({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: maxAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        `A message has waited in this dead-letter queue for more than ${maxAge.toDays()} days; SQS deletes ` +
        'it at 14 days.',
      runbook: 'dead-letter-queue-age',
    }),
  ];
}
