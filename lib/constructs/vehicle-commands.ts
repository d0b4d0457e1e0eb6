import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EncryptedTable } from './encrypted-table.js';
import { NodeLambda } from './node-lambda.js';
import { onCallAlarm } from './on-call-alarm.js';
import type { SmartcarSecret } from './smartcar-secret.js';
import type { TokenKey } from './token-key.js';

/** The command routes (docs/design.md, "Vehicle commands"). */
export const COMMANDS_PATH = '/vehicles/{vehicleId}/commands';
export const VEHICLE_COMMAND_SERVICE = 'vehicle-command';
/**
 * Below API Gateway's 30 s integration limit, so that our answer (502 + audit UNKNOWN after a Smartcar timeout)
 * always reaches the caller instead of API Gateway's own 503. Commands take seconds to tens of seconds on some
 * brands: the command call gets what is left after the token (≤ 8 s, usually 0) minus 3 s for the audit.
 */
export const VEHICLE_COMMAND_TIMEOUT = Duration.seconds(28);
/** SMARTCAR_COMMAND_TIMEOUT_MS: within the timeout above, leaving the audit write and the answer their time. */
export const SMARTCAR_COMMAND_TIMEOUT_MS = 24_000;

export interface VehicleCommandsProps {
  readonly entry: string;
  readonly depsLockFilePath: string;
  readonly metricsNamespace: string;
  readonly dataKey: kms.IKey;
  readonly vehicleTable: EncryptedTable;
  readonly tokenTable: EncryptedTable;
  readonly tokenKey: TokenKey;
  readonly secret: SmartcarSecret;
  /** The redirect URI the token rotation's AuthClient is built with. */
  readonly redirectUri: string;
  /** Context `commandAuditDays`: how long audit items are kept. */
  readonly auditDays: number;
  readonly httpApi: apigwv2.HttpApi;
  readonly alarmTopic: sns.ITopic;
  /** The webhook processor, which confirms commands from later lock/charging reports. */
  readonly processor: {
    readonly role: iam.IRole;
    readonly function: { addEnvironment(k: string, v: string): unknown };
  };
  /**
   * UNKNOWN outcomes (a command that may or may not have reached the vehicle) in 15 minutes that page on-call.
   * @default 3
   */
  readonly unknownOutcomeThreshold?: number;
}

/**
 * Vehicle commands (lock, unlock, charging) through the stored grant: the command audit table, the command
 * Lambda with exactly the permissions it uses, `POST`/`GET /vehicles/{vehicleId}/commands` (IAM), the
 * processor's access for confirmations, and alarms on errors and on a spike of UNKNOWN outcomes.
 */
export class VehicleCommands extends Construct {
  readonly auditTable: EncryptedTable;
  readonly lambda: NodeLambda;
  readonly routes: { readonly post: apigwv2.HttpRoute; readonly list: apigwv2.HttpRoute };

  constructor(scope: Construct, id: string, props: VehicleCommandsProps) {
    super(scope, id);

    this.auditTable = new EncryptedTable(this, 'AuditTable', {
      partitionKey: 'vehicleId',
      sortKey: 'sk',
      // Commands expire after commandAuditDays; Idempotency-Key claims after 24 h (also checked on read).
      timeToLiveAttribute: 'expiresAt',
      encryptionKey: props.dataKey,
      // RETAIN: the record of who opened which car when; it must outlive a stack replacement.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });

    this.lambda = new NodeLambda(this, 'Handler', {
      entry: props.entry,
      depsLockFilePath: props.depsLockFilePath,
      metricsNamespace: props.metricsNamespace,
      description:
        'Vehicle commands: lock, unlock and charging through the stored grant, with an audit trail',
      serviceName: VEHICLE_COMMAND_SERVICE,
      // TLS to Smartcar, KMS and DynamoDB per request; latency is Smartcar's, not CPU.
      memorySize: 256,
      timeout: VEHICLE_COMMAND_TIMEOUT,
      environment: {
        VEHICLE_TABLE_NAME: props.vehicleTable.table.tableName,
        TOKEN_TABLE_NAME: props.tokenTable.table.tableName,
        TOKEN_KEY_ID: props.tokenKey.keyArn,
        COMMAND_AUDIT_TABLE_NAME: this.auditTable.table.tableName,
        COMMAND_AUDIT_DAYS: String(props.auditDays),
        SMARTCAR_SECRET_ID: props.secret.secretId,
        SMARTCAR_REDIRECT_URI: props.redirectUri,
        SMARTCAR_COMMAND_TIMEOUT_MS: String(SMARTCAR_COMMAND_TIMEOUT_MS),
      },
    });
    const role = this.lambda.role;
    // Reads the profile (getAccessToken, the connected check); marks a dead grant's profiles NEEDS_REAUTH when
    // an on-demand refresh is refused (UpdateItem, through the refresh job's rotation protocol).
    props.vehicleTable.grantItems(role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Reads the grant; an expiring access token is refreshed on demand: claim, persist, release (UpdateItem)
    // and the rotation's clean-up of a grant left without vehicles (DeleteItem, conditional). Never PutItem.
    props.tokenTable.grantItems(role, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
    // Decrypt the access token (and, for an on-demand refresh, the refresh token) and encrypt a rotated pair,
    // only under the token encryption context.
    props.tokenKey.grantTokenCrypto(role, ['kms:Encrypt', 'kms:Decrypt']);
    // PENDING item (PutItem, also inside the idempotency transaction), its outcome (UpdateItem), key claims and
    // replays (GetItem), the history (Query). No DeleteItem: the audit is never edited away, TTL expires it.
    this.auditTable.grantItems(role, [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    // Client id and secret for an on-demand token refresh.
    props.secret.grantRead(role);

    // The processor confirms SENT commands: one Query per lock/charging report, one UpdateItem per confirmation.
    this.auditTable.grantItems(props.processor.role, ['dynamodb:Query', 'dynamodb:UpdateItem']);
    props.processor.function.addEnvironment('COMMAND_AUDIT_TABLE_NAME', this.auditTable.table.tableName);

    const integration = new HttpLambdaIntegration('CommandsIntegration', this.lambda.function);
    const route = (routeId: string, method: apigwv2.HttpMethod) =>
      new apigwv2.HttpRoute(this, routeId, {
        httpApi: props.httpApi,
        routeKey: apigwv2.HttpRouteKey.with(COMMANDS_PATH, method),
        integration,
        // IAM like the other vehicle routes: only backends granted execute-api:Invoke may open a car.
        authorizer: new HttpIamAuthorizer(),
      });
    this.routes = {
      post: route('PostCommandRoute', apigwv2.HttpMethod.POST),
      list: route('ListCommandsRoute', apigwv2.HttpMethod.GET),
    };

    const action = new actions.SnsAction(props.alarmTopic);
    onCallAlarm(this, 'ErrorsAlarm', action, {
      alarmDescription:
        'The vehicle command Lambda failed (crash or timeout): a command may be left PENDING/UNKNOWN in the audit',
      metric: this.lambda.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    onCallAlarm(this, 'UnknownOutcomesAlarm', action, {
      alarmDescription:
        'Commands whose outcome is UNKNOWN (Smartcar timeouts, 5xx, lost connections): check Smartcar status; ' +
        'never re-send them blindly, look at the vehicle state first',
      metric: new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: 'CommandOutcomeUnknown',
        dimensionsMap: { service: VEHICLE_COMMAND_SERVICE },
        period: Duration.minutes(15),
        statistic: 'Sum',
      }),
      threshold: props.unknownOutcomeThreshold ?? 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
}
