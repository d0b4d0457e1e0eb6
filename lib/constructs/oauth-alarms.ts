import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { FUNCTIONS, METRICS, type RouteContract } from '../../contracts/index.js';
// One namespace for the on-call alarm helpers this construct uses (see on-call-alarm.ts).
import * as onCall from './on-call-alarm.js';

export interface OAuthAlarmsProps {
  readonly topic: sns.ITopic;
  /** POWERTOOLS_METRICS_NAMESPACE of the Lambdas. */
  readonly metricsNamespace: string;
  /** POWERTOOLS_SERVICE_NAME of the callback: Powertools puts it on every metric as the `service` dimension. */
  readonly callbackServiceName: string;
  readonly connect: lambda.IFunction;
  readonly callback: lambda.IFunction;
  readonly disconnect: lambda.IFunction;
  /** Failed callbacks (with a valid state) within `failureWindow` that page on-call. @default 5 */
  readonly failureThreshold?: number;
  /** @default 15 minutes */
  readonly failureWindow?: Duration;
  /** The HTTP API stage, for the routes' 5xx-rate and 4xx-spike alarms. */
  readonly stage: apigwv2.IHttpStage;
  /** Thresholds of the route alarms. @default routeAlarms' defaults */
  readonly route?: onCall.RouteAlarmOptions;
}

/**
 * The custom metric the callback publishes (Powertools EMF, unit Count) for each failed Connect: once with
 * the `service` dimension only, once more with `service` and `reason`.
 */
export const CONNECT_FAILED_METRIC = 'ConnectFailed';
/** The reason of a callback whose state is missing, unknown, expired or used (docs/design.md). */
export const INVALID_STATE_REASON = 'invalid_state';

/**
 * On-call alarms of the OAuth flows: crashes of their Lambdas, and a cluster of failed Connect callbacks.
 */
export class OAuthAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OAuthAlarmsProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const period = Duration.minutes(5);
    const threshold = props.failureThreshold ?? 5;
    const window = props.failureWindow ?? Duration.minutes(15);

    this.alarms.push(
      ...onCall.functionAlarms(this, 'Connect', props.connect, action, {
        impact: 'POST /connect fails with 5xx: no app user can start Smartcar Connect.',
      }),
      ...onCall.functionAlarms(this, 'Callback', props.callback, action, {
        impact:
          'Vehicle owners who finished Smartcar Connect get an API Gateway error page instead of the ' +
          'success or failure page, and their vehicles may be only partly linked (the callback is crash-safe ' +
          'and a new Connect repairs it).',
      }),
      ...onCall.functionAlarms(this, 'Disconnect', props.disconnect, action, {
        impact:
          'DELETE /vehicles/{vehicleId} and DELETE /users/{userId} fail with 5xx: vehicles cannot be ' +
          'disconnected nor app users removed (a retry finishes a partial removal).',
      }),
    );
    const routes: [string, RouteContract][] = [
      ['ConnectRoute', FUNCTIONS.oauthConnect.routes[0]],
      ['CallbackRoute', FUNCTIONS.oauthCallback.routes[0]],
      ['DisconnectRoute', FUNCTIONS.vehicleDisconnect.routes[0]],
      ['UserRemovalRoute', FUNCTIONS.vehicleDisconnect.routes[1]],
    ];
    for (const [name, route] of routes) {
      this.alarms.push(...onCall.routeAlarms(this, name, props.stage, route, action, props.route));
    }
    this.alarms.push(
      onCall.onCallAlarm(this, 'CallbackSecretNotConfigured', action, {
        metric: onCall.serviceMetric(
          props.metricsNamespace,
          props.callbackServiceName,
          METRICS.secretNotConfigured,
          period,
        ),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription:
          'A vehicle owner came back from Smartcar Connect but the Smartcar secret still holds the ' +
          'placeholder: the callback answered 503 and no Connect can succeed until the real values are put.',
        runbook: 'smartcar-secret-not-configured',
      }),
    );

    // Failed callbacks minus those refused for their state. The callback checks the state before anything
    // else, so anyone on the internet can produce invalid_state failures on this public route (scanners,
    // stale bookmarks); every other reason needs a state that the IAM-protected POST /connect created, i.e.
    // a real Connect attempt. FILL: no invalid_state datapoint must not blank out the difference.
    const failed = (dimensionsMap: Record<string, string>) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: CONNECT_FAILED_METRIC,
        dimensionsMap,
        statistic: cloudwatch.Stats.SUM,
        period: window,
      });
    this.alarms.push(
      onCall.onCallAlarm(this, 'ConnectFailures', action, {
        runbook: 'connectfailures',
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(failed, 0) - FILL(invalidState, 0)',
          usingMetrics: {
            // Exactly the dimension set Powertools Metrics writes by default; a metric with more dimensions
            // is a different CloudWatch metric, so the total must be the service-only one.
            failed: failed({ service: props.callbackServiceName }),
            // The same failures counted again with their reason (the callback's countFailure).
            invalidState: failed({ service: props.callbackServiceName, reason: INVALID_STATE_REASON }),
          },
          label: 'Failed Connect callbacks with a valid state',
          period: window,
        }),
        // Not > 0: single failures are part of normal use (the owner cancels or denies access, has no
        // compatible vehicle). Several within the window point at something systematic: client id/secret
        // in the secret wrong, redirect URI not registered in the Smartcar Dashboard, Smartcar down, or a
        // KMS or DynamoDB problem.
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription:
          `${threshold} or more Smartcar Connect callbacks with a valid state failed within ` +
          `${window.toMinutes()} minutes. See the ${CONNECT_FAILED_METRIC} metric by reason and the ` +
          'oauth-callback logs: exchange_failed suggests a wrong client id/secret or a redirect URI that ' +
          'is not registered in the Smartcar Dashboard; smartcar_unavailable a Smartcar outage; ' +
          'storage_failed or temporarily_unavailable a DynamoDB or KMS problem.',
      }),
    );
  }
}
