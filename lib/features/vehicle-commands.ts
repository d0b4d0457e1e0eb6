import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { FUNCTIONS, TABLES } from '../../contracts/index.js';
import { EncryptedTable, tableSchemaProps } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import {
  functionAlarms,
  onCallAlarm,
  routeAlarms,
  type RouteAlarmOptions,
} from '../constructs/on-call-alarm.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { SmartcarSecret } from '../constructs/smartcar-secret.js';
import type { TokenKey } from '../constructs/token-key.js';
import type { TokenRecoveryQueue } from '../constructs/token-recovery-queue.js';
import type { LambdaEntries } from '../entries.js';
import type { SmartcarSettings } from '../settings.js';

export interface VehicleCommandsProps {
  readonly api: SmartcarHttpApi;
  readonly dataKey: kms.IKey;
  readonly vehicleTable: EncryptedTable;
  readonly tokenTable: EncryptedTable;
  readonly tokenKey: TokenKey;
  readonly secret: SmartcarSecret;
  /** The redirect URI the token rotation's AuthClient is built with (a refresh-token exchange does not send it). */
  readonly redirectUri: string;
  /** The token refresh's recovery queue: an on-demand refresh parks a pair it could not store there. */
  readonly recoveryQueue: TokenRecoveryQueue;
  /** The webhook processor: it confirms SENT commands from later lock/charging reports. */
  readonly processor: NodeLambda<'processor'>;
  readonly alarmTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
  readonly settings: Pick<SmartcarSettings, 'commandAuditDays'>;
  /**
   * UNKNOWN outcomes (commands that may or may not have reached the vehicle) within 15 minutes that page on-call.
   * @default 3
   */
  readonly unknownOutcomeThreshold?: number;
  /** What happens to the audit table when the stack is deleted or it is replaced. @default RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Thresholds of the command routes' 5xx-rate and 4xx-spike alarms. @default routeAlarms' defaults */
  readonly routeAlarms?: RouteAlarmOptions;
}

/**
 * Vehicle commands (lock, unlock, charging) through the stored grant: `POST`/`GET /vehicles/{vehicleId}/commands`
 * (IAM) → command Lambda → Smartcar, the command audit table, the processor's access to confirm commands, and
 * alarms on the Lambda's errors and on a spike of UNKNOWN outcomes.
 */
export class VehicleCommands extends Construct {
  readonly auditTable: EncryptedTable;
  readonly handler: NodeLambda<'vehicleCommand'>;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: VehicleCommandsProps) {
    super(scope, id);

    this.auditTable = new EncryptedTable(this, 'CommandAuditTable', {
      ...tableSchemaProps(TABLES.commandAudit),
      encryptionKey: props.dataKey,
      // RETAIN + deletion protection (prod): the record of who opened which car when must outlive a stack
      // deletion or replacement; TTL (commandAuditDays) is what removes items. A dev stack cleans up.
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
    });

    this.handler = new NodeLambda(this, 'VehicleCommand', {
      function: 'vehicleCommand',
      entry: props.entries?.vehicleCommand,
      metricsNamespace: props.metricsNamespace,
    });
    const fn = this.handler;
    // Reads the profile (the connected check, getAccessToken); an on-demand refresh that Smartcar refuses
    // marks the grant's profiles NEEDS_REAUTH (UpdateItem, the refresh job's rotation protocol).
    fn.bindTable('VEHICLE_TABLE_NAME', props.vehicleTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Reads the grant (status, vehicles, granted permissions); an expiring access token is refreshed on demand:
    // claim, persist and release are UpdateItems, and the rotation deletes a grant left without vehicles
    // (conditional DeleteItem). Never PutItem: it never creates a grant.
    fn.bindTable('TOKEN_TABLE_NAME', props.tokenTable, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // getAccessToken: decrypts the access token (and for a refresh the refresh token) and encrypts the rotated
    // pair, only under the token encryption context.
    fn.bindKey('TOKEN_KEY_ID', props.tokenKey, ['kms:Encrypt', 'kms:Decrypt']);
    // A rotated pair that cannot be stored is sealed under a data key of the token key (generated before the
    // exchange) and parked in the recovery queue; only the refresh job opens and applies it (docs/design.md,
    // "A rotated pair that cannot be stored").
    fn.bindQueue('TOKEN_RECOVERY_QUEUE_URL', props.recoveryQueue);
    props.tokenKey.grantRecoverySeal(fn.role);
    // The PENDING item (PutItem, also inside the Idempotency-Key transaction), its outcome (UpdateItem), key
    // claims and replays (GetItem), the history (Query). No DeleteItem: nothing edits the audit away.
    fn.bindTable('COMMAND_AUDIT_TABLE_NAME', this.auditTable, [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    fn.setEnvironment('COMMAND_AUDIT_DAYS', String(props.settings.commandAuditDays));
    // Client id and secret for an on-demand token refresh.
    fn.bindSecret('SMARTCAR_SECRET_ID', props.secret);
    fn.setEnvironment('SMARTCAR_REDIRECT_URI', props.redirectUri);
    props.api.addFunctionRoutes('VehicleCommand', fn.function, FUNCTIONS.vehicleCommand.routes);

    // Confirmation: one Query per lock/charging report and a conditional SENT → CONFIRMED update.
    props.processor.bindTable('COMMAND_AUDIT_TABLE_NAME', this.auditTable, [
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);

    const action = new actions.SnsAction(props.alarmTopic);
    this.alarms.push(
      ...functionAlarms(this, 'VehicleCommand', fn.function, action, {
        impact: 'a command may be left PENDING (it reads as UNKNOWN); never re-send it blindly.',
      }),
    );
    const [send, history] = FUNCTIONS.vehicleCommand.routes;
    this.alarms.push(
      ...routeAlarms(this, 'CommandRoute', props.api.stage, send, action, props.routeAlarms),
      ...routeAlarms(this, 'CommandHistoryRoute', props.api.stage, history, action, props.routeAlarms),
    );
    const unknown = onCallAlarm(this, 'CommandOutcomesUnknown', action, {
      alarmDescription:
        'Vehicle commands with an UNKNOWN outcome (Smartcar timeouts, 5xx, lost connections): check Smartcar ' +
        'status; never re-send them blindly, look at the vehicle state first',
      metric: new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: 'CommandOutcomeUnknown',
        dimensionsMap: { service: FUNCTIONS.vehicleCommand.serviceName },
        period: Duration.minutes(15),
        statistic: 'Sum',
      }),
      // A single UNKNOWN is one slow car; several in 15 minutes are Smartcar or a brand having trouble.
      threshold: props.unknownOutcomeThreshold ?? 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.alarms.push(unknown);
  }
}
