import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Construct } from 'constructs';
import { BY_REFRESH_EXPIRY_INDEX, FUNCTIONS } from '../../contracts/index.js';
import { NodeLambda } from '../constructs/node-lambda.js';
// One namespace for the on-call alarm helpers this construct uses (see on-call-alarm.ts).
import * as onCall from '../constructs/on-call-alarm.js';
import { ScheduledJob } from '../constructs/scheduled-job.js';
import type { SmartcarFeatureProps } from './feature-props.js';
import { parseScheduleExpression } from '../schedule-expression.js';
import type { SmartcarSettings } from '../settings.js';

/**
 * Often enough that a connect nobody confirms is revoked a few minutes after its window, rarely enough to be
 * cheap: a run is one Query of a (mostly empty) index partition.
 */
export const CONNECT_EXPIRY_SCHEDULE = 'rate(5 minutes)';
/** Daily: a full read of Smartcar's connection list and of the token table. */
export const RECONCILE_SCHEDULE = 'rate(1 day)';

/** Metrics the alarms watch (Powertools EMF, unit Count, `service` dimension). */
export const CONNECT_ORPHANED_METRIC = 'ConnectOrphaned';
export const CONNECT_EXPIRY_FAILED_METRIC = 'ConnectExpiryFailed';
export const RECONCILE_FAILED_METRIC = 'ReconcileFailed';
export const RECONCILE_UNKNOWN_METRIC = 'ReconcileUnknownConnections';

export interface ConnectionLifecycleProps extends SmartcarFeatureProps {
  readonly settings: Pick<SmartcarSettings, 'reconcileRevokeOrphans'>;
  /** Thresholds of the confirm route's 5xx-rate and 4xx-spike alarms. @default routeAlarms' defaults */
  readonly routeAlarms?: onCall.RouteAlarmOptions;
}

/**
 * What happens to a connection after the callback (docs/design.md, "Confirmed connect", "Reconciliation"):
 * `POST /connect/{connectId}/confirm` (IAM) → confirm Lambda; an EventBridge schedule → the connect expiry job
 * (revokes pending connects nobody confirmed); a daily schedule → the reconciliation job (Smartcar's
 * connections against the grants); and their alarms.
 */
export class ConnectionLifecycle extends Construct {
  readonly confirm: NodeLambda<'connectConfirm'>;
  readonly expiry: NodeLambda<'connectExpiry'>;
  readonly reconcile: NodeLambda<'connectionReconcile'>;
  readonly expirySchedule: ScheduledJob;
  readonly reconcileSchedule: ScheduledJob;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ConnectionLifecycleProps) {
    super(scope, id);
    const { api, secret, vehicleTable, tokenTable } = props;
    const common = { metricsNamespace: props.metricsNamespace };
    const stackName = Stack.of(this).stackName;

    this.confirm = new NodeLambda(this, 'ConnectConfirm', {
      ...common,
      function: 'connectConfirm',
      entry: props.entries?.connectConfirm,
    });
    // Reads the pending grant, activates it (or marks it REVOKING and deletes it on a user mismatch), moves
    // vehicles between grants and deletes grants left without vehicles. Never a token: no use of the key.
    this.confirm.bindTable('TOKEN_TABLE_NAME', tokenTable, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // Reads a profile's current grant and links it (UpdateItem inside TransactWriteItems).
    this.confirm.bindTable('VEHICLE_TABLE_NAME', vehicleTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // The AMT: revokes a mismatched connect, and a moved vehicle's previous connection.
    this.confirm.bindSecret('SMARTCAR_SECRET_ID', secret);
    api.addFunctionRoutes('ConnectConfirm', this.confirm.function, FUNCTIONS.connectConfirm.routes);

    this.expiry = new NodeLambda(this, 'ConnectExpiry', {
      ...common,
      function: 'connectExpiry',
      entry: props.entries?.connectExpiry,
      // One run at a time: two would race for the same few grants (harmlessly, the REVOKING step is
      // conditional) and double the Management API calls.
      reservedConcurrentExecutions: 1,
    });
    // Lists the pending grants (the PENDING partition of byRefreshExpiry), marks them REVOKING, deletes them.
    this.expiry.bindTable(
      'TOKEN_TABLE_NAME',
      tokenTable,
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      { queryIndexes: [BY_REFRESH_EXPIRY_INDEX] },
    );
    // Decrypt only: a pending connect whose vehicles the callback could not learn is revoked with its own
    // access token (GET /vehicles), the one case where anything but the refresh job reads a token.
    this.expiry.bindKey('TOKEN_KEY_ID', props.tokenKey, ['kms:Decrypt']);
    // Reads profiles: a connection another live link shares is not revoked.
    this.expiry.bindTable('VEHICLE_TABLE_NAME', vehicleTable, ['dynamodb:GetItem']);
    this.expiry.bindSecret('SMARTCAR_SECRET_ID', secret);
    const expiryCadence = parseScheduleExpression(CONNECT_EXPIRY_SCHEDULE);
    this.expirySchedule = new ScheduledJob(this, 'ConnectExpirySchedule', {
      handler: this.expiry.function,
      schedule: expiryCadence,
      description: `Revokes the unconfirmed Smartcar connects of ${stackName} (${expiryCadence.expression})`,
    });

    this.reconcile = new NodeLambda(this, 'ConnectionReconcile', {
      ...common,
      function: 'connectionReconcile',
      entry: props.entries?.connectionReconcile,
      // Daily and up to 15 minutes long: a second run at once would only repeat the first.
      reservedConcurrentExecutions: 1,
    });
    // Scan (metadata only) of the grants, once a day; unlinks vehicles whose connection Smartcar no longer
    // has and deletes grants left without vehicles.
    this.reconcile.bindTable('TOKEN_TABLE_NAME', tokenTable, [
      'dynamodb:Scan',
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    this.reconcile.bindTable('VEHICLE_TABLE_NAME', vehicleTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // The AMT: lists the connections (and revokes orphans when reconcileRevokeOrphans is set).
    this.reconcile.bindSecret('SMARTCAR_SECRET_ID', secret);
    this.reconcile.setEnvironment('RECONCILE_REVOKE_ORPHANS', String(props.settings.reconcileRevokeOrphans));
    const reconcileCadence = parseScheduleExpression(RECONCILE_SCHEDULE);
    this.reconcileSchedule = new ScheduledJob(this, 'ConnectionReconcileSchedule', {
      handler: this.reconcile.function,
      schedule: reconcileCadence,
      description: `Reconciles the Smartcar connections of ${stackName} (${reconcileCadence.expression})`,
    });

    this.addAlarms(props);
  }

  private addAlarms(props: ConnectionLifecycleProps): void {
    const action = new actions.SnsAction(props.alarmTopic);
    const metric = (serviceName: string, metricName: string, period: Duration) =>
      onCall.serviceMetric(props.metricsNamespace, serviceName, metricName, period);
    const atLeastOne = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    };
    // A count the daily reconciliation run emits, alarmed on from its first occurrence.
    const reconcileAlarm = (alarmId: string, metricName: string, alarmDescription: string) =>
      onCall.onCallAlarm(this, alarmId, action, {
        metric: metric(FUNCTIONS.connectionReconcile.serviceName, metricName, Duration.days(1)),
        ...atLeastOne,
        alarmDescription,
      });

    this.alarms.push(
      ...onCall.functionAlarms(this, 'ConnectConfirm', this.confirm.function, action, {
        impact: 'POST /connect/{connectId}/confirm fails with 5xx: app users cannot finish connecting a car.',
      }),
      ...onCall.routeAlarms(
        this,
        'ConnectConfirmRoute',
        props.api.stage,
        FUNCTIONS.connectConfirm.routes[0],
        action,
        props.routeAlarms,
      ),
      ...onCall.functionAlarms(this, 'ConnectExpiry', this.expiry.function, action, {
        period: Duration.minutes(15),
        impact:
          'Unconfirmed connects are not revoked: their connections stay live at Smartcar until a run ' +
          'succeeds (see its logs and its dead-letter queue).',
      }),
      ...onCall.functionAlarms(this, 'ConnectionReconcile', this.reconcile.function, action, {
        period: Duration.days(1),
        impact:
          'The daily reconciliation did not finish: vehicles disconnected at Smartcar are not marked ' +
          'DISCONNECTED and unknown connections are not counted. See the connection-reconcile logs.',
      }),
      // Failed or dropped runs, as for the token refresh: not redriven, but read and purged.
      ...onCall.deadLetterQueueAlarms(
        this,
        'ConnectExpiryDeadLetterQueue',
        this.expirySchedule.deadLetterQueue,
        action,
        {
          notEmpty: 'A connect expiry run failed or was dropped; its failure record waits in this queue.',
          runbook: 'connection-job-dead-letter-queues',
        },
      ),
      ...onCall.deadLetterQueueAlarms(
        this,
        'ConnectionReconcileDeadLetterQueue',
        this.reconcileSchedule.deadLetterQueue,
        action,
        {
          notEmpty: 'A reconciliation run failed or was dropped; its failure record waits in this queue.',
          runbook: 'connection-job-dead-letter-queues',
        },
      ),
      onCall.onCallAlarm(this, 'ConnectOrphaned', action, {
        metric: metric(FUNCTIONS.oauthCallback.serviceName, CONNECT_ORPHANED_METRIC, Duration.minutes(5)),
        ...atLeastOne,
        alarmDescription:
          'A Connect could neither be stored (KMS/DynamoDB) nor revoked at Smartcar: its connection is live ' +
          'with no grant here, counting against the vehicle limit. The callback log names the app user; the ' +
          'next reconciliation reports it as an unknown connection.',
      }),
      onCall.onCallAlarm(this, 'ExpiryFailures', action, {
        metric: metric(
          FUNCTIONS.connectExpiry.serviceName,
          CONNECT_EXPIRY_FAILED_METRIC,
          Duration.minutes(5),
        ),
        ...atLeastOne,
        // Three runs in a row: one Smartcar hiccup is retried by the next run.
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        alarmDescription:
          'Unconfirmed connects could not be revoked in 3 consecutive runs of the connect expiry job: their ' +
          'connections stay live at Smartcar. See the connect-expiry logs (Smartcar Management API, the AMT ' +
          'in the secret, DynamoDB).',
      }),
      reconcileAlarm(
        'ReconcileItemFailures',
        RECONCILE_FAILED_METRIC,
        'The reconciliation could not mark a vehicle DISCONNECTED or revoke an unknown connection (its log ' +
          'names the ids); the next daily run retries.',
      ),
      reconcileAlarm(
        'UnknownConnections',
        RECONCILE_UNKNOWN_METRIC,
        'Smartcar has connections no grant here knows (ids in the connection-reconcile log): connects whose ' +
          'storage and revocation both failed, or previous owners whose revocation failed. They count against ' +
          'the vehicle limit; revoke them (reconcileRevokeOrphans=true does so after a day).',
      ),
    );
  }
}
