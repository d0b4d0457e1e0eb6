import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { routeKey, type RouteContract } from '../../contracts/index.js';
import { routeMetric } from './on-call-alarm.js';

export interface OperationsDashboardProps {
  /** Namespace of the Lambdas' Powertools metrics. */
  readonly metricsNamespace: string;
  /** @default 5 minutes */
  readonly period?: Duration;
}

const WIDTH = 24;

/**
 * The stage's CloudWatch dashboard, named like the stack: one section (a header and its graphs) per concern.
 * Features add their section with the helpers below; the stack adds the alarm overview last.
 */
export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly period: Duration;
  private readonly namespace: string;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    this.namespace = props.metricsNamespace;
    this.period = props.period ?? Duration.minutes(5);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: Stack.of(this).stackName,
      defaultInterval: Duration.hours(6),
    });
  }

  /** A header and its graphs, two per row. */
  addSection(title: string, widgets: readonly cloudwatch.IWidget[]): void {
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `## ${title}`, width: WIDTH, height: 1 }),
    );
    for (let i = 0; i < widgets.length; i += 2) this.dashboard.addWidgets(...widgets.slice(i, i + 2));
  }

  /** Traffic, errors and latency of each route. */
  routeWidgets(stage: apigwv2.IHttpStage, routes: readonly RouteContract[]): cloudwatch.IWidget[] {
    return routes.map((route) => {
      const metric = (name: string, statistic: string) =>
        routeMetric(stage, route, name, statistic, this.period);
      return new cloudwatch.GraphWidget({
        title: routeKey(route),
        width: WIDTH / 2,
        left: [metric('Count', 'Sum'), metric('4xx', 'Sum'), metric('5xx', 'Sum')],
        right: [metric('Latency', 'p99')],
        rightYAxis: { label: 'p99 ms', showUnits: false },
      });
    });
  }

  /** Depth and age of a queue and its dead-letter queue. */
  queueWidgets(title: string, queue: sqs.IQueue, deadLetterQueue: sqs.IQueue): cloudwatch.IWidget[] {
    const options = { period: this.period, statistic: cloudwatch.Stats.MAXIMUM };
    return [
      new cloudwatch.GraphWidget({
        title: `${title}: depth`,
        width: WIDTH / 2,
        left: [
          queue.metricApproximateNumberOfMessagesVisible({ ...options, label: 'queued' }),
          queue.metricApproximateNumberOfMessagesNotVisible({ ...options, label: 'in flight' }),
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...options, label: 'DLQ' }),
        ],
        // What arrives: for the webhook queue, every delivery the receiver accepted.
        right: [
          queue.metricNumberOfMessagesSent({
            period: this.period,
            statistic: cloudwatch.Stats.SUM,
            label: 'sent',
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: `${title}: oldest message (s)`,
        width: WIDTH / 2,
        left: [
          queue.metricApproximateAgeOfOldestMessage({ ...options, label: 'queue' }),
          deadLetterQueue.metricApproximateAgeOfOldestMessage({ ...options, label: 'DLQ' }),
        ],
      }),
    ];
  }

  /**
   * Sums of Powertools metrics of one service, summed over the values of their extra dimensions (e.g. the
   * processor's event type): a SEARCH, so a new event type appears without a change here.
   */
  outcomeWidget(
    title: string,
    service: string,
    metricNames: readonly string[],
    /** The metrics' dimension names: exactly these (failures are also counted again by `reason`). */
    dimensions: readonly string[] = ['service'],
    /** One line per value of this dimension instead of their sum (e.g. `reason`). */
    splitBy?: string,
  ): cloudwatch.IWidget {
    const seconds = this.period.toSeconds();
    const schema = [this.namespace, ...dimensions].join(',');
    return new cloudwatch.GraphWidget({
      title,
      width: WIDTH / 2,
      stacked: true,
      left: metricNames.map(
        (name) =>
          new cloudwatch.MathExpression({
            expression:
              splitBy === undefined
                ? `SUM(SEARCH('{${schema}} service="${service}" MetricName="${name}"', 'Sum', ${seconds}))`
                : `SEARCH('{${schema}} service="${service}" MetricName="${name}"', 'Sum', ${seconds})`,
            label: splitBy === undefined ? name : '',
            period: this.period,
            usingMetrics: {},
          }),
      ),
    });
  }

  /** Every alarm of the stack with its state, last. */
  addAlarmOverview(alarms: readonly cloudwatch.IAlarm[]): void {
    this.addSection('Alarms', [
      new cloudwatch.AlarmStatusWidget({
        title: 'On-call alarms',
        alarms: [...alarms],
        width: WIDTH,
        height: 8,
      }),
    ]);
  }
}
