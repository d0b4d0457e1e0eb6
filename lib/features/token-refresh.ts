import { Duration, Stack } from 'aws-cdk-lib';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  BY_ACCESS_EXPIRY_INDEX,
  BY_REFRESH_EXPIRY_INDEX,
  FUNCTION_IDS,
  FUNCTIONS,
} from '../../contracts/index.js';
import type { EncryptedTable } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import { deadLetterQueueAlarms } from '../constructs/on-call-alarm.js';
import { ScheduledJob } from '../constructs/scheduled-job.js';
import type { SmartcarSecret } from '../constructs/smartcar-secret.js';
import type { TokenKey } from '../constructs/token-key.js';
import { TokenRecoveryQueue } from '../constructs/token-recovery-queue.js';
import { TokenRefreshAlarms } from '../constructs/token-refresh-alarms.js';
import type { LambdaEntries } from '../entries.js';
import { parseScheduleExpression } from '../schedule-expression.js';
import type { SmartcarSettings } from '../settings.js';

/** The refresh job's timeout (why 5 minutes: contracts/functions.ts). */
export const TOKEN_REFRESH_TIMEOUT = Duration.seconds(FUNCTIONS.tokenRefresh.timeoutSeconds);
/**
 * How long a claim holds a grant (REFRESH_LEASE_SECONDS): longer than one refresh including its in-process
 * retries, and short because a run that dies after Smartcar rotated the pair must hand the grant to the next
 * claimant while Smartcar still accepts the old refresh token (about a minute, docs/design.md).
 */
export const TOKEN_REFRESH_LEASE = Duration.seconds(60);

/**
 * The functions that may park a rotated pair: every one whose contract has the recovery queue's URL (the job,
 * and those whose getAccessToken refreshes on demand).
 */
const RECOVERY_SENDERS = FUNCTION_IDS.filter((id) =>
  (FUNCTIONS[id].environment as readonly string[]).includes('TOKEN_RECOVERY_QUEUE_URL'),
);

export interface TokenRefreshProps {
  readonly secret: SmartcarSecret;
  readonly vehicleTable: EncryptedTable;
  readonly tokenTable: EncryptedTable;
  readonly tokenKey: TokenKey;
  /** The redirect URI the smartcar SDK's AuthClient requires (a refresh-token exchange does not send it). */
  readonly redirectUri: string;
  readonly alarmTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
  readonly settings: Pick<
    SmartcarSettings,
    'tokenRefreshSchedule' | 'refreshWindowDays' | 'accessWarmWindowMinutes' | 'refreshConcurrency'
  >;
}

/**
 * EventBridge schedule → refresh Lambda → due grants from the token table's expiry GSIs, rotated with a
 * conditional claim (token CMK: decrypt and encrypt), and its alarms.
 */
export class TokenRefresh extends Construct {
  readonly job: NodeLambda<'tokenRefresh'>;
  readonly schedule: ScheduledJob;
  readonly recoveryQueue: TokenRecoveryQueue;
  readonly alarms: TokenRefreshAlarms;

  constructor(scope: Construct, id: string, props: TokenRefreshProps) {
    super(scope, id);
    const { settings, tokenTable, vehicleTable } = props;
    const cadence = parseScheduleExpression(settings.tokenRefreshSchedule);

    this.job = new NodeLambda(this, 'TokenRefresh', {
      function: 'tokenRefresh',
      entry: props.entries?.tokenRefresh,
      metricsNamespace: props.metricsNamespace,
      // One run at a time. Not for correctness (the conditional claim makes overlapping runs race-free), but
      // a second run would repeat the first one's Query and lose every claim race: wasted requests, and up to
      // twice REFRESH_CONCURRENCY calls to Smartcar's rate limits. An operator's invocation during a run is
      // refused (429) instead, and a scheduled one waits in Lambda's queue (see ScheduledJob). The cost: 1 of
      // the account's concurrency is reserved, which accounts on the smallest concurrency quota cannot do
      // (Lambda keeps 100 unreserved); raise the quota there.
      reservedConcurrentExecutions: 1,
    });
    // Claims (UpdateItem), reads (GetItem) and persists (UpdateItem) grants, marks them NEEDS_REAUTH, and
    // deletes grants left without vehicles (DeleteItem, conditional). No Put: it never creates a grant.
    // The access-expiry index only while warming is on: the job does not query it otherwise.
    this.job.bindTable(
      'TOKEN_TABLE_NAME',
      tokenTable,
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      {
        queryIndexes: [
          BY_REFRESH_EXPIRY_INDEX,
          ...(settings.accessWarmWindowMinutes > 0 ? [BY_ACCESS_EXPIRY_INDEX] : []),
        ],
      },
    );
    // DescribeTable (no item reads): the item count of the refresh-expiry index is the ConnectedGrants gauge
    // the webhook silence alarm needs.
    tokenTable.grantDescribe(this.job.role);
    // The only role that decrypts tokens: it reads the refresh token and stores the rotated pair.
    this.job.bindKey('TOKEN_KEY_ID', props.tokenKey, ['kms:Encrypt', 'kms:Decrypt']);
    // A rotated pair that cannot be stored is parked here, sealed under a data key of the same key
    // (tokenType `recovery`), and applied first by the next run (docs/design.md, "Failures").
    this.recoveryQueue = new TokenRecoveryQueue(this, 'TokenRecovery', {
      consumerTimeout: TOKEN_REFRESH_TIMEOUT,
    });
    this.job.bindRecoveryQueue('TOKEN_RECOVERY_QUEUE_URL', this.recoveryQueue);
    props.tokenKey.grantRecoveryCrypto(this.job.role);
    // Sets the profiles of a dead grant's vehicles to NEEDS_REAUTH (conditional UpdateItem). It never reads a
    // profile: getAccessToken, which does, runs in the Lambdas that call Smartcar for a vehicle.
    this.job.bindTable('VEHICLE_TABLE_NAME', vehicleTable, ['dynamodb:UpdateItem']);
    // Client id and secret for the token endpoint.
    this.job.bindSecret('SMARTCAR_SECRET_ID', props.secret);
    this.job.setEnvironment('SMARTCAR_REDIRECT_URI', props.redirectUri);
    this.job.setEnvironment('REFRESH_WINDOW_DAYS', String(settings.refreshWindowDays));
    this.job.setEnvironment('ACCESS_WARM_WINDOW_MINUTES', String(settings.accessWarmWindowMinutes));
    this.job.setEnvironment('REFRESH_CONCURRENCY', String(settings.refreshConcurrency));
    this.job.setEnvironment('REFRESH_LEASE_SECONDS', String(TOKEN_REFRESH_LEASE.toSeconds()));

    const stackName = Stack.of(this).stackName;
    this.schedule = new ScheduledJob(this, 'TokenRefreshSchedule', {
      handler: this.job.function,
      schedule: cadence,
      description: `Runs the Smartcar token refresh of ${stackName} (${cadence.expression})`,
    });

    this.alarms = new TokenRefreshAlarms(this, 'TokenRefreshAlarms', {
      topic: props.alarmTopic,
      metricsNamespace: props.metricsNamespace,
      serviceName: FUNCTIONS.tokenRefresh.serviceName,
      handler: this.job.function,
      schedule: cadence,
      recoveryDeadLetterQueue: this.recoveryQueue.deadLetterQueue,
      rotatingServiceNames: RECOVERY_SENDERS.map((id) => FUNCTIONS[id].serviceName),
    });
    // Failed or dropped runs; not redriven (see ScheduledJob), but a failure record nobody reads is a failure
    // nobody fixes, and one that is about to expire is lost evidence.
    this.alarms.alarms.push(
      ...deadLetterQueueAlarms(
        this.alarms,
        'TokenRefreshDeadLetterQueue',
        this.schedule.deadLetterQueue,
        new actions.SnsAction(props.alarmTopic),
        {
          notEmpty:
            'A token refresh run failed or was dropped; its failure record (the error, or why the event ' +
            'expired) waits in the TokenRefreshDeadLetterQueueUrl queue.',
        },
      ),
    );
  }
}
