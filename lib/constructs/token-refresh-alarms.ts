import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ScheduleCadence } from '../schedule-expression.js';
import { functionAlarms, onCallAlarm } from './on-call-alarm.js';

export interface TokenRefreshAlarmsProps {
  readonly topic: sns.ITopic;
  /** POWERTOOLS_METRICS_NAMESPACE of the job. */
  readonly metricsNamespace: string;
  /** POWERTOOLS_SERVICE_NAME of the job: Powertools puts it on every metric as the `service` dimension. */
  readonly serviceName: string;
  readonly handler: lambda.IFunction;
  /** The job's schedule: each alarm's period is derived from the time between runs. */
  readonly schedule: ScheduleCadence;
  /**
   * POWERTOOLS_SERVICE_NAME of every function whose rotations may park a pair (the job's and those whose
   * getAccessToken refreshes on demand): the parked / not-persisted alarms count all of them.
   * @default [serviceName]
   */
  readonly rotatingServiceNames?: readonly string[];
  /** The recovery queue's DLQ: parked pairs that ten runs could not apply. */
  readonly recoveryDeadLetterQueue: sqs.IQueue;
  /** Consecutive runs with failed refreshes that page on-call. @default 3 */
  readonly failedRuns?: number;
  /** Grants turned NEEDS_REAUTH within an hour (or one run, if runs are further apart) that page. @default 10 */
  readonly needsReauthThreshold?: number;
}

/** The job's summary metrics (Powertools EMF, unit Count, `service` dimension only; docs/design.md). */
export const TOKEN_REFRESH_FAILED_METRIC = 'TokenRefreshFailed';
export const TOKEN_REFRESH_NEEDS_REAUTH_METRIC = 'TokenRefreshNeedsReauth';
/** A rotated pair that could not be stored and was parked in the recovery queue (lambdas/tokens/token-rotation.ts). */
export const TOKEN_ROTATION_PARKED_METRIC = 'TokenRotationParked';
/** A rotated pair that could be neither stored nor parked: the grant needs re-auth unless recovered in ~1 min. */
export const TOKEN_ROTATION_NOT_PERSISTED_METRIC = 'TokenRotationNotPersisted';

const HOUR_MINUTES = 60;

/**
 * On-call alarms of the scheduled token refresh. A single failed refresh pages nobody: a grant is due days
 * before its refresh token expires (REFRESH_WINDOW_DAYS) and every run retries it. What pages is what would
 * let refresh tokens run out unnoticed: failures in run after run, the job crashing, or the job not running
 * at all; and a burst of grants needing re-authorisation, which is the owners' problem only one at a time.
 */
export class TokenRefreshAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: TokenRefreshAlarmsProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const failedRuns = props.failedRuns ?? 3;
    const needsReauthThreshold = props.needsReauthThreshold ?? 10;
    // One period per run: about one datapoint per period, so "N breaching periods in a row" means N runs.
    const runPeriod = Duration.minutes(props.schedule.maxGapMinutes);
    // Never shorter than an hour, so a short schedule does not turn every slow run into a page.
    const hourOrRun = Duration.minutes(Math.max(HOUR_MINUTES, props.schedule.maxGapMinutes));
    // Twice the longest gap (so one late run is not a page), at least an hour.
    const silence = Duration.minutes(Math.max(HOUR_MINUTES, 2 * props.schedule.maxGapMinutes));
    const jobMetric = (metricName: string, period: Duration) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName,
        // Exactly the dimension set Powertools Metrics writes by default (a metric with more dimensions is a
        // different CloudWatch metric).
        dimensionsMap: { service: props.serviceName },
        statistic: cloudwatch.Stats.SUM,
        period,
      });

    this.alarms.push(
      onCallAlarm(this, 'TokenRefreshFailures', action, {
        metric: jobMetric(TOKEN_REFRESH_FAILED_METRIC, runPeriod),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: failedRuns,
        datapointsToAlarm: failedRuns,
        alarmDescription:
          `Token refreshes failed in each of ${failedRuns} consecutive runs (${props.schedule.expression}). ` +
          'Failed grants are retried every run, but a refresh token that is not rotated before it expires ' +
          '(60 days after issue) forces the owner through Smartcar Connect again. See the token-refresh ' +
          'logs: Smartcar unavailable or rate limiting, a wrong clientId/clientSecret in the Smartcar ' +
          'secret, or a KMS or DynamoDB problem.',
      }),
    );

    this.alarms.push(
      onCallAlarm(this, 'TokenRefreshNeedsReauth', action, {
        metric: jobMetric(TOKEN_REFRESH_NEEDS_REAUTH_METRIC, hourOrRun),
        // Not > 0: an owner revoking access in their Smartcar account is normal use and is shown to the
        // app as the vehicle's NEEDS_REAUTH status. Many at once point at the application itself.
        threshold: needsReauthThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription:
          `${needsReauthThreshold} or more grants were marked NEEDS_REAUTH within ` +
          `${hourOrRun.toMinutes()} minutes: their vehicles stay unusable until each owner reconnects. A burst ` +
          'suggests the Smartcar application was revoked or its credentials changed, refresh tokens expired ' +
          'because the job did not run for weeks, or a bug in the refresh job. Check the token-refresh logs ' +
          '(one line per grant with its reason) before anyone asks owners to reconnect.',
      }),
    );

    // A rotation metric of every function that rotates (Powertools writes one `service` per function).
    const rotatingServices = props.rotatingServiceNames ?? [props.serviceName];
    const rotationMetric = (metricName: string): cloudwatch.IMetric => {
      const [only, ...more] = rotatingServices;
      if (only !== undefined && more.length === 0) {
        return jobMetric(metricName, runPeriod).with({ dimensionsMap: { service: only } });
      }
      const usingMetrics = Object.fromEntries(
        rotatingServices.map((service, i) => [
          `s${i}`,
          jobMetric(metricName, runPeriod).with({ dimensionsMap: { service } }),
        ]),
      );
      // SUM over the array, not `s0 + s1`: an arithmetic expression has no value where one of its series has
      // no datapoint, and the functions that did not rotate in a period publish none.
      return new cloudwatch.MathExpression({
        expression: `SUM([${Object.keys(usingMetrics).join(', ')}])`,
        usingMetrics,
        label: metricName,
        period: runPeriod,
      });
    };

    // Any pair that needed the fallback: nothing is lost yet, but the token table or KMS failed for longer
    // than a run could wait, and until the next run applies it the stored refresh token is the rotated one.
    this.alarms.push(
      onCallAlarm(this, 'RotationParked', action, {
        metric: rotationMetric(TOKEN_ROTATION_PARKED_METRIC),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription:
          'A token refresh (the job, or an on-demand refresh of the command Lambda or the subscription worker) ' +
          'could not store the pair Smartcar had just issued (DynamoDB or KMS failing for longer than it ' +
          'could retry) and parked it, sealed, in the TokenRecovery queue. The next refresh run ' +
          'applies it before anything else (log "Applied a parked token pair"); the run does not refresh that ' +
          'grant while its pair stays pending. Check DynamoDB and KMS health and the logs of the function ' +
          'that parked it ("parked in the recovery queue"); if messages ' +
          'reach the recovery DLQ, redrive them to the recovery queue once the cause is fixed.',
      }),
    );
    // Worse: not even parked (the queue failed too). The stored token works for about a minute more.
    this.alarms.push(
      onCallAlarm(this, 'RotationNotPersisted', action, {
        metric: rotationMetric(TOKEN_ROTATION_NOT_PERSISTED_METRIC),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription:
          'A pair Smartcar issued could be neither stored nor parked (DynamoDB or KMS, and SQS, failing), or ' +
          'another claimant took the grant over. Unless another claimant recovered it within about a minute, ' +
          'the grant will answer invalid_grant and its owner must reconnect: see the logs of the token-refresh, ' +
          'vehicle-command and subscription-worker functions for the grant id.',
      }),
    );
    this.alarms.push(
      onCallAlarm(this, 'RecoveryDeadLetters', action, {
        metric: props.recoveryDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription:
          'Parked token pairs that ten refresh runs could not apply are in the recovery dead-letter queue. ' +
          'Each holds the only valid refresh token of its grant (valid 60 days from its rotation). Fix the ' +
          'cause (logs: "Could not apply a parked token pair", "not a sealed token pair"), then redrive the ' +
          'DLQ to the recovery queue.',
      }),
    );

    // Any crash or timeout of a run; throttled runs (its reserved concurrency of 1 is taken by an operator's
    // invocation) too.
    this.alarms.push(
      ...functionAlarms(this, 'TokenRefresh', props.handler, action, {
        period: runPeriod,
        impact:
          'That run refreshed only part of the due grants (the rest is retried by the next run, Lambda does ' +
          'not retry it). The failure record is in the TokenRefreshDeadLetterQueueUrl queue.',
      }),
    );

    this.alarms.push(
      onCallAlarm(this, 'TokenRefreshNotRunning', action, {
        metric: props.handler.metricInvocations({ period: silence, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // No datapoint at all is exactly the failure this alarm is for (Lambda publishes Invocations only
        // when there are some), unlike every other alarm of the stack.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription:
          `The token-refresh Lambda was not invoked for ${silence.toMinutes()} minutes although it is ` +
          `scheduled ${props.schedule.expression}: no token is being refreshed. Check that the schedule rule ` +
          "is enabled, the rule's FailedInvocations metric, the TokenRefreshDeadLetterQueueUrl queue, and " +
          'Lambda throttling.',
      }),
    );
  }
}
