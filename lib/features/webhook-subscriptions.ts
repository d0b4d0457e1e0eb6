import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { BY_APP_USER_INDEX, FUNCTIONS, SUBSCRIPTION_MAX_ATTEMPTS } from '../../contracts/index.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import {
  deadLetterQueueAlarms,
  functionAlarms,
  onCallAlarm,
  routeAlarms,
  serviceMetric,
} from '../constructs/on-call-alarm.js';
import type { TokenRecoveryQueue } from '../constructs/token-recovery-queue.js';
import { WebhookQueue } from '../constructs/webhook-queue.js';
import type { SmartcarFeatureProps } from './feature-props.js';

/** Messages per worker invocation; each is one or two Smartcar calls. */
const WORKER_BATCH_SIZE = 10;
/** Workers at once: Smartcar rate-limits per application, so a Connect of 500 vehicles drains steadily. */
const WORKER_MAX_CONCURRENCY = 2;

export interface WebhookSubscriptionsProps extends SmartcarFeatureProps {
  /** The redirect URI (the worker's AuthClient needs one to refresh an access token). */
  readonly redirectUri: string;
  /** The token refresh's recovery queue: the worker's on-demand refresh parks a pair it could not store there. */
  readonly recoveryQueue: TokenRecoveryQueue;
  /** Context `smartcarWebhookIds`; empty = the Dashboard's auto-enrollment subscribes vehicles. */
  readonly webhookIds: readonly string[];
  /** The Connect callback: queues the subscriptions of the vehicles it links (connectConfirmation=off). */
  readonly callback: NodeLambda<'oauthCallback'>;
  /** The connect confirmation: queues the subscriptions of the vehicles it links. */
  readonly confirm: NodeLambda<'connectConfirm'>;
  /** The disconnect: removes the ACTIVE subscriptions before revoking. */
  readonly disconnect: NodeLambda<'vehicleDisconnect'>;
  /** Both subscription queues' removal policy. @default DESTROY (WebhookQueue's) */
  readonly queueRemovalPolicy?: RemovalPolicy;
}

/**
 * Webhook subscriptions (docs/design.md, "Webhook subscriptions"): the callback queues one message per linked
 * vehicle and configured webhook → SQS (+DLQ) → worker Lambda (`vehicle.subscribe` with the vehicle's access
 * token, back-off on 429) → records in the vehicle table; `POST /vehicles/{vehicleId}/subscriptions` (IAM) and
 * the all-vehicles job re-run them; and the alarms of all of it.
 */
export class WebhookSubscriptions extends Construct {
  readonly queue: WebhookQueue;
  readonly worker: NodeLambda<'subscriptionWorker'>;
  readonly rerun: NodeLambda<'vehicleSubscriptions'>;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: WebhookSubscriptionsProps) {
    super(scope, id);
    const common = { metricsNamespace: props.metricsNamespace };
    const webhookIds = props.webhookIds.join(',');
    const workerTimeout = Duration.seconds(FUNCTIONS.subscriptionWorker.timeoutSeconds);
    this.queue = new WebhookQueue(this, 'SubscriptionQueue', {
      consumerTimeout: workerTimeout,
      maxReceiveCount: SUBSCRIPTION_MAX_ATTEMPTS,
      removalPolicy: props.queueRemovalPolicy,
    });

    this.worker = new NodeLambda(this, 'SubscriptionWorker', {
      ...common,
      function: 'subscriptionWorker',
      entry: props.entries?.subscriptionWorker,
    });
    // Reads the profile (getAccessToken) and writes the subscription records (conditional UpdateItem); the
    // refresh of an expiring access token marks profiles NEEDS_REAUTH like the refresh job does.
    this.worker.bindTable('VEHICLE_TABLE_NAME', props.vehicleTable, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
    // getAccessToken: reads the grant, and rotates it through the same claim/persist protocol as the refresh
    // job when its access token is about to expire (which may delete an emptied grant).
    this.worker.bindTable('TOKEN_TABLE_NAME', props.tokenTable, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // Decrypts the access token (and the refresh token for a rotation), encrypts a rotated pair.
    this.worker.bindKey('TOKEN_KEY_ID', props.tokenKey, ['kms:Encrypt', 'kms:Decrypt']);
    // A rotated pair that cannot be stored is sealed (data key of the token key) and parked in the recovery
    // queue; only the refresh job opens and applies it.
    this.worker.bindQueue('TOKEN_RECOVERY_QUEUE_URL', props.recoveryQueue);
    props.tokenKey.grantRecoverySeal(this.worker.role);
    this.worker.bindSecret('SMARTCAR_SECRET_ID', props.secret);
    this.worker.setEnvironment('SMARTCAR_REDIRECT_URI', props.redirectUri);
    // Its own queue's URL: the back-off is a ChangeMessageVisibility on the received message (granted by the
    // event source's consume permissions), so no send permission.
    this.worker.setEnvironment('SUBSCRIPTION_QUEUE_URL', this.queue.queue.queueUrl);
    this.worker.setEnvironment('SUBSCRIPTION_MAX_ATTEMPTS', String(SUBSCRIPTION_MAX_ATTEMPTS));
    this.worker.function.addEventSource(
      new SqsEventSource(this.queue.queue, {
        batchSize: WORKER_BATCH_SIZE,
        // A message to retry is reported failed after its visibility was set to the back-off; the others of
        // the batch are done.
        reportBatchItemFailures: true,
        maxConcurrency: WORKER_MAX_CONCURRENCY,
      }),
    );

    // The callback queues subscriptions of the vehicles it links (PENDING records through its existing
    // UpdateItem on the vehicle table).
    props.callback.bindQueue('SUBSCRIPTION_QUEUE_URL', this.queue);
    props.callback.setEnvironment('SMARTCAR_WEBHOOK_IDS', webhookIds);
    // The same for the confirm, which links the vehicles when confirmation is required (the default).
    props.confirm.bindQueue('SUBSCRIPTION_QUEUE_URL', this.queue);
    props.confirm.setEnvironment('SMARTCAR_WEBHOOK_IDS', webhookIds);
    // The disconnect lists a vehicle's subscription records (Query on its partition) before revoking.
    props.vehicleTable.grantItems(props.disconnect.role, ['dynamodb:Query']);

    this.rerun = new NodeLambda(this, 'VehicleSubscriptions', {
      ...common,
      function: 'vehicleSubscriptions',
      entry: props.entries?.vehicleSubscriptions,
    });
    // Reads the profile and the records, marks them PENDING.
    this.rerun.bindTable('VEHICLE_TABLE_NAME', props.vehicleTable, [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    // The all-vehicles job pages through the sparse byAppUser index (linked profiles only).
    this.rerun.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan'],
        resources: [`${props.vehicleTable.table.tableArn}/index/${BY_APP_USER_INDEX}`],
      }),
    );
    this.rerun.bindQueue('SUBSCRIPTION_QUEUE_URL', this.queue);
    this.rerun.setEnvironment('SMARTCAR_WEBHOOK_IDS', webhookIds);
    props.api.addFunctionRoutes(
      'VehicleSubscriptions',
      this.rerun.function,
      FUNCTIONS.vehicleSubscriptions.routes,
    );

    this.addAlarms(props);
  }

  private addAlarms(props: WebhookSubscriptionsProps): void {
    const action = new actions.SnsAction(props.alarmTopic);
    const period = Duration.minutes(5);
    const metric = (service: string, metricName: string) =>
      serviceMetric(props.metricsNamespace, service, metricName, period);
    const add = (alarmId: string, spec: Parameters<typeof onCallAlarm>[3]) =>
      this.alarms.push(onCallAlarm(this, alarmId, action, spec));

    this.alarms.push(
      ...functionAlarms(this, 'SubscriptionWorker', this.worker.function, action, {
        impact: 'Subscriptions stay PENDING (retried from the queue); those vehicles get no deliveries yet.',
      }),
      ...functionAlarms(this, 'VehicleSubscriptions', this.rerun.function, action, {
        impact: 'A re-run of subscriptions (one vehicle, or the all-vehicles job) did not queue them.',
      }),
      ...FUNCTIONS.vehicleSubscriptions.routes.flatMap((route) =>
        routeAlarms(this, 'SubscriptionsRoute', props.api.stage, route, action),
      ),
      ...deadLetterQueueAlarms(this, 'SubscriptionDeadLetterQueue', this.queue.deadLetterQueue, action, {
        notEmpty:
          'Subscribe messages reached the subscription DLQ: those vehicles get no webhook deliveries. See the ' +
          'subscription records (GET /vehicles/{vehicleId}), fix the cause, then redrive the DLQ.',
      }),
    );
    add('SubscriptionsFailed', {
      metric: metric(FUNCTIONS.subscriptionWorker.serviceName, 'SubscriptionsFailed'),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'Vehicles could not be subscribed to a webhook (FAILED records): Smartcar refused the subscription ' +
        '(wrong webhook id, permissions) or kept failing. Those vehicles get no deliveries.',
    });
    add('UnsubscribeFailed', {
      metric: metric(FUNCTIONS.vehicleDisconnect.serviceName, 'UnsubscribeFailed'),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'A disconnect could not remove webhook subscriptions at Smartcar (the connection was still revoked, ' +
        'which ends deliveries). Check the unsubscribeError of the REMOVED records.',
    });
    add('SubscriptionScheduleFailed', {
      metric: new cloudwatch.MathExpression({
        expression: 'callback + confirm',
        usingMetrics: {
          callback: metric(FUNCTIONS.oauthCallback.serviceName, 'SubscriptionScheduleFailed'),
          confirm: metric(FUNCTIONS.connectConfirm.serviceName, 'SubscriptionScheduleFailed'),
        },
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'The Connect callback could not queue subscriptions of linked vehicles (they stay PENDING): re-run ' +
        'them with POST /vehicles/{vehicleId}/subscriptions or the all-vehicles job once SQS works again.',
    });
  }
}
