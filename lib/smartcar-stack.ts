import { CfnOutput, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TABLES } from '../contracts/index.js';
import { DataKey } from './constructs/data-key.js';
import { EncryptedTable, tableSchemaProps } from './constructs/encrypted-table.js';
import { NodeLambda } from './constructs/node-lambda.js';
import { OnCallTopic } from './constructs/on-call-topic.js';
import type { OperationsDashboard } from './constructs/operations-dashboard.js';
import { SmartcarHttpApi } from './constructs/smartcar-http-api.js';
import { SmartcarSecret } from './constructs/smartcar-secret.js';
import { TokenKey } from './constructs/token-key.js';
import type { LambdaEntries } from './entries.js';
import { ConnectionLifecycle } from './features/connection-lifecycle.js';
import { EdgeFront } from './features/edge-front.js';
import { OAuth } from './features/oauth.js';
import { TokenRefresh } from './features/token-refresh.js';
import { VehicleApi } from './features/vehicle-api.js';
import { VehicleCommands } from './features/vehicle-commands.js';
import { WebhookPipeline } from './features/webhook-pipeline.js';
import { WebhookSubscriptions } from './features/webhook-subscriptions.js';
import { parseSettings, retainsData, type SmartcarSettings } from './settings.js';
import { stackDashboard } from './stack-dashboard.js';

export interface SmartcarStackProps extends StackProps {
  /** Validated settings; unset ones take their defaults. */
  readonly settings?: Partial<SmartcarSettings>;
  /**
   * Handler files. @default LAMBDA_ENTRIES. Tests that skip bundling may point these at any existing
   * file (NodejsFunction checks that the entry exists even when it does not bundle).
   */
  readonly entries?: LambdaEntries;
  /**
   * With `edgeProtection=on` outside us-east-1: the ARN of the CLOUDFRONT-scope web ACL made there
   * (EdgeAclStack, passed with crossRegionReferences). @default the web ACL is created in this stack
   */
  readonly edgeWebAclArn?: string;
}

/**
 * The stores every feature shares (keys, tables, the Smartcar secret, the on-call topic, the HTTP API), and one
 * construct per feature, each owning its Lambdas, grants, routes and alarms:
 * - WebhookPipeline: Smartcar → HTTP API → receiver Lambda (HMAC check) → SQS (+DLQ) → processor → DynamoDB;
 * - VehicleApi: `GET /vehicles/{vehicleId}` and `GET /vehicles?userId=` (IAM) → read Lambda → DynamoDB;
 * - OAuth: `POST /connect` (IAM) → state table; Smartcar → `GET /oauth/callback` → token table (token CMK) +
 *   vehicle profiles; `DELETE /vehicles/{vehicleId}` (IAM) → disconnect Lambda;
 * - TokenRefresh: EventBridge schedule → refresh Lambda → due grants from the token table's expiry GSIs;
 * - VehicleCommands: `POST`/`GET /vehicles/{vehicleId}/commands` (IAM) → command Lambda → Smartcar, audit table.
 * - WebhookSubscriptions: callback → subscription queue (+DLQ) → worker → `vehicle.subscribe`; disconnect
 *   unsubscribes; `POST /vehicles/{vehicleId}/subscriptions` (IAM) re-runs.
 * - ConnectionLifecycle: `POST /connect/{connectId}/confirm` (IAM), the connect expiry and the daily
 *   reconciliation jobs.
 * - EdgeFront (`edgeProtection=on`): CloudFront + AWS WAF in front of the public routes.
 * Contracts (tables, functions, environment): contracts/; design: docs/design.md.
 */
export class SmartcarStack extends Stack {
  readonly settings: SmartcarSettings;
  /** Namespace the Lambdas publish their Powertools metrics to. */
  readonly metricsNamespace: string;
  readonly webhookPipeline: WebhookPipeline;
  readonly vehicleApi: VehicleApi;
  readonly oauth: OAuth;
  readonly tokenRefresh: TokenRefresh;
  readonly vehicleCommands: VehicleCommands;
  readonly connectionLifecycle: ConnectionLifecycle;
  readonly dashboard: OperationsDashboard;
  readonly webhookSubscriptions: WebhookSubscriptions;
  /** CloudFront + AWS WAF in front of the public routes, when `edgeProtection` is on. */
  readonly edgeFront?: EdgeFront;

  constructor(scope: Construct, id: string, props: SmartcarStackProps = {}) {
    super(scope, id, props);
    const settings = parseSettings(props.settings ?? {});
    const entries = props.entries;
    this.settings = settings;
    this.metricsNamespace = `Smartcar/${settings.stage}`;
    const metricsNamespace = this.metricsNamespace;
    Tags.of(this).add('project', 'smartcar-integration');
    // Cost allocation and "whose is this?" in the console: service, stage and owner on every resource.
    Tags.of(this).add('service', 'smartcar-integration');
    Tags.of(this).add('stage', settings.stage);
    Tags.of(this).add('owner', settings.owner);
    // Stateful resources (tables, keys, queues, secret) survive the stack in prod; a dev stack cleans up.
    const retain = retainsData(settings);
    const stateful = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // --- Shared stores ----------------------------------------------------------------------------------
    const dataKey = new DataKey(this, 'DataKey', {
      // Aliases are unique per account and region, as stack names are.
      alias: `${this.stackName}/data`,
      description: `Encrypts the DynamoDB tables of ${this.stackName}`,
      removalPolicy: stateful,
    }).key;

    const vehicleTable = new EncryptedTable(this, 'VehicleStateTable', {
      ...tableSchemaProps(TABLES.vehicle),
      encryptionKey: dataKey,
      // RETAIN + deletion protection (prod): the table is the system's record of vehicle state and cannot
      // be rebuilt (Smartcar does not replay past webhooks), so neither a stack deletion nor a resource
      // replacement may drop it.
      removalPolicy: stateful,
      deletionProtection: retain,
    });

    // OAuth tokens: their own key (see TokenKey for why), their own table.
    const tokenKey = new TokenKey(this, 'TokenKey', {
      alias: `${this.stackName}/tokens`,
      description: `Encrypts the Smartcar OAuth tokens (and their table) of ${this.stackName}`,
      removalPolicy: stateful,
    });
    const tokenTable = new EncryptedTable(this, 'TokenTable', {
      // Keys and the due-time indexes, and why they project what they do: contracts/tables.ts.
      // Both indexes are created together only because this stack has never been deployed: CloudFormation can
      // add or delete just ONE global secondary index per update of an existing table, so a stack that already
      // has the token table has to get them in two deployments (see EncryptedTable.globalSecondaryIndexes).
      ...tableSchemaProps(TABLES.token),
      encryptionKey: tokenKey.key,
      // RETAIN + deletion protection (prod): losing the table forces every vehicle owner through Connect again.
      removalPolicy: stateful,
      deletionProtection: retain,
    });

    const secret = new SmartcarSecret(this, 'SmartcarSecret', {
      existingSecretArn: settings.smartcarSecretArn,
      existingSecretName: settings.smartcarSecretName,
      removalPolicy: stateful,
    });
    const onCall = new OnCallTopic(this, 'OnCall', { email: settings.alarmEmail });
    const api = new SmartcarHttpApi(this, 'HttpApi', {
      throttle: { rateLimit: settings.apiRateLimit, burstLimit: settings.apiBurstLimit },
      webhookThrottle: { rateLimit: settings.webhookRateLimit, burstLimit: settings.webhookBurstLimit },
    });
    const shared = { api, secret, vehicleTable, alarmTopic: onCall.topic, metricsNamespace, entries };

    // --- Features ---------------------------------------------------------------------------------------
    // First: with the front on, its URLs are the ones Smartcar calls (the OAuth redirect URI among them).
    if (settings.edgeProtection === 'on') {
      this.edgeFront = new EdgeFront(this, 'EdgeFront', {
        api,
        alarmTopic: onCall.topic,
        settings,
        webAclArn: props.edgeWebAclArn,
      });
    }
    this.webhookPipeline = new WebhookPipeline(this, 'WebhookPipeline', {
      ...shared,
      testEvents: settings.testEvents,
      maxBodyBytes: settings.maxBodyBytes,
      processorMaxConcurrency: settings.processorMaxConcurrency,
      queueRemovalPolicy: stateful,
      queueSenderArns: settings.queueSenderArns,
      alarmSettings: { webhookSilenceHours: settings.webhookSilenceHours },
    });
    this.vehicleApi = new VehicleApi(this, 'VehicleApi', shared);
    this.oauth = new OAuth(this, 'OAuth', {
      ...shared,
      dataKey,
      tokenTable,
      tokenKey,
      settings,
      publicCallbackUrl: this.edgeFront?.oauthCallbackUrl,
    });
    // The Lambdas behind the front refuse requests that went around it.
    this.edgeFront?.lockOrigin(this.webhookPipeline.receiver);
    this.edgeFront?.lockOrigin(this.oauth.callback);
    this.tokenRefresh = new TokenRefresh(this, 'TokenRefresh', {
      ...shared,
      tokenTable,
      tokenKey,
      redirectUri: this.oauth.redirectUri,
      settings,
    });
    this.vehicleCommands = new VehicleCommands(this, 'VehicleCommands', {
      ...shared,
      dataKey,
      tokenTable,
      tokenKey,
      redirectUri: this.oauth.redirectUri,
      recoveryQueue: this.tokenRefresh.recoveryQueue,
      processor: this.webhookPipeline.processor,
      settings,
      removalPolicy: stateful,
    });
    this.connectionLifecycle = new ConnectionLifecycle(this, 'ConnectionLifecycle', {
      ...shared,
      tokenTable,
      tokenKey,
      settings,
    });
    this.webhookSubscriptions = new WebhookSubscriptions(this, 'WebhookSubscriptions', {
      ...shared,
      tokenTable,
      tokenKey,
      redirectUri: this.oauth.redirectUri,
      recoveryQueue: this.tokenRefresh.recoveryQueue,
      webhookIds: settings.smartcarWebhookIds,
      callback: this.oauth.callback,
      confirm: this.connectionLifecycle.confirm,
      disconnect: this.oauth.disconnect,
      queueRemovalPolicy: stateful,
    });

    // --- Operations -------------------------------------------------------------------------------------
    this.dashboard = stackDashboard(this, metricsNamespace, api);
    // Every function of every feature, including those added later, logs at the configured level.
    for (const child of this.node.findAll()) {
      if (child instanceof NodeLambda) child.setLogLevel(settings.logLevel);
    }

    // --- Outputs ----------------------------------------------------------------------------------------
    const queue = this.webhookPipeline.queue;
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'WebhookUrl', {
      value: this.edgeFront?.webhookUrl ?? api.webhookUrl,
      description: 'Callback URI to configure for the webhook in the Smartcar dashboard',
    });
    if (this.edgeFront) {
      new CfnOutput(this, 'EdgeDistributionId', {
        value: this.edgeFront.distribution.distributionId,
        description: 'CloudFront distribution in front of the webhook and the OAuth callback (AWS WAF)',
      });
      new CfnOutput(this, 'EdgeLogBucketName', {
        value: this.edgeFront.logBucket.bucketName,
        description: "CloudFront's access logs (the callers' addresses, c-ip) under cloudfront/",
      });
    }
    new CfnOutput(this, 'SmartcarSecretId', {
      value: secret.secretId,
      description: secret.created
        ? 'ARN of the Smartcar credentials secret: replace the REPLACE_ME values with put-secret-value'
        : 'Name or ARN of the imported Smartcar credentials secret',
    });
    new CfnOutput(this, 'WebhookQueueUrl', { value: queue.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: queue.deadLetterQueue.queueUrl,
      description: 'Failed webhook events; redrive to the webhook queue after fixing the cause',
    });
    new CfnOutput(this, 'VehicleStateTableName', { value: vehicleTable.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: onCall.topic.topicArn });
    new CfnOutput(this, 'OAuthCallbackUrl', {
      value: this.oauth.redirectUri,
      description: "Redirect URI to register in the Smartcar Dashboard (the application's redirect URIs)",
    });
    new CfnOutput(this, 'ConnectUrl', {
      value: api.connectUrl,
      description: 'POST here (SigV4-signed) to start Smartcar Connect for an app user',
    });
    new CfnOutput(this, 'TokenTableName', { value: tokenTable.table.tableName });
    new CfnOutput(this, 'CommandAuditTableName', {
      value: this.vehicleCommands.auditTable.table.tableName,
      description:
        'Audit of every vehicle command (lock, unlock, charging): who asked, when, what Smartcar said',
    });
    new CfnOutput(this, 'SubscriptionDeadLetterQueueUrl', {
      value: this.webhookSubscriptions.queue.deadLetterQueue.queueUrl,
      description:
        'Subscriptions that kept failing; redrive to the subscription queue after fixing the cause',
    });
    new CfnOutput(this, 'VehicleSubscriptionsFunctionName', {
      value: this.webhookSubscriptions.rerun.function.functionName,
      description:
        'Invoke with {"allVehicles":true} to subscribe every linked vehicle to the configured webhooks',
    });
    new CfnOutput(this, 'TokenRefreshFunctionName', {
      value: this.tokenRefresh.job.function.functionName,
      description: 'The scheduled token refresh; invoke it to run a refresh now (see the README)',
    });
    new CfnOutput(this, 'TokenRefreshDeadLetterQueueUrl', {
      value: this.tokenRefresh.schedule.deadLetterQueue.queueUrl,
      description: 'Token refresh runs that failed or were dropped, with the reason (for diagnosis only)',
    });
    new CfnOutput(this, 'TokenRecoveryDeadLetterQueueArn', {
      value: this.tokenRefresh.recoveryQueue.deadLetterQueue.queueArn,
      description:
        'Parked token pairs that ten refresh runs could not apply: redrive them once fixed (README)',
    });
  }
}
