import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  App,
  type AppProps,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { z } from 'zod';
// The Lambdas' own list of Smartcar permissions (a dependency-free module): synth rejects exactly the scopes
// the connect Lambda would reject at cold start, instead of a deploy that then fails on the first request.
import { isKnownScope } from '../lambdas/oauth/scopes.js';
import { DataKey } from './constructs/data-key.js';
import { EncryptedTable } from './constructs/encrypted-table.js';
import { NodeLambda } from './constructs/node-lambda.js';
import { OAuthAlarms } from './constructs/oauth-alarms.js';
import { OnCallTopic } from './constructs/on-call-topic.js';
import { PipelineAlarms } from './constructs/pipeline-alarms.js';
import { ScheduledJob } from './constructs/scheduled-job.js';
import { SmartcarHttpApi } from './constructs/smartcar-http-api.js';
import { SmartcarSecret } from './constructs/smartcar-secret.js';
import { TokenKey } from './constructs/token-key.js';
import { VehicleCommands } from './constructs/vehicle-commands.js';
import { TokenRefreshAlarms } from './constructs/token-refresh-alarms.js';
import { DLQ_RETENTION, WebhookQueue } from './constructs/webhook-queue.js';
import { parseScheduleExpression, type ScheduleCadence } from './schedule-expression.js';

/** Repository root (this file is lib/smartcar-stack.ts), so paths do not depend on the working directory. */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface LambdaEntries {
  readonly receiver: string;
  readonly processor: string;
  /** Serves `GET /vehicles/{vehicleId}` and `GET /vehicles?userId=`. */
  readonly vehicleRead: string;
  readonly oauthConnect: string;
  readonly oauthCallback: string;
  readonly vehicleDisconnect: string;
  /** The scheduled token refresh (issue 4). */
  readonly tokenRefresh: string;
  /** `POST`/`GET /vehicles/{vehicleId}/commands`. */
  readonly vehicleCommand: string;
}

/** Handler entries, as fixed by docs/design.md. */
export const LAMBDA_ENTRIES: LambdaEntries = {
  receiver: path.join(REPO_ROOT, 'lambdas/webhook-receiver/handler.ts'),
  processor: path.join(REPO_ROOT, 'lambdas/webhook-processor/handler.ts'),
  vehicleRead: path.join(REPO_ROOT, 'lambdas/vehicle-read/handler.ts'),
  oauthConnect: path.join(REPO_ROOT, 'lambdas/oauth-connect/handler.ts'),
  oauthCallback: path.join(REPO_ROOT, 'lambdas/oauth-callback/handler.ts'),
  vehicleDisconnect: path.join(REPO_ROOT, 'lambdas/vehicle-disconnect/handler.ts'),
  tokenRefresh: path.join(REPO_ROOT, 'lambdas/token-refresh/handler.ts'),
  vehicleCommand: path.join(REPO_ROOT, 'lambdas/vehicle-command/handler.ts'),
};

const DEPS_LOCK_FILE = path.join(REPO_ROOT, 'package-lock.json');

/** The processor's timeout; the queue's visibility timeout is derived from it (× 6). */
export const PROCESSOR_TIMEOUT = Duration.seconds(30);
/**
 * Records per processor invocation: 10 conditional-write events finish well inside the 30 s timeout, and a
 * larger batch would only make each invocation (and the retry of a crashed one) longer.
 */
export const PROCESSOR_BATCH_SIZE = 10;
/** How long Lambda may wait to fill a batch. */
export const PROCESSOR_BATCHING_WINDOW = Duration.seconds(2);

/** GSI of the vehicle-state table that lists an app user's linked vehicles (docs/design.md). */
export const VEHICLE_USER_INDEX = 'byAppUser';
/** POWERTOOLS_SERVICE_NAME of the callback, also the `service` dimension of its ConnectFailed metric. */
export const OAUTH_CALLBACK_SERVICE = 'oauth-callback';
/**
 * The callback's timeout: API Gateway HTTP APIs give up on an integration after 30 s, so the Lambda must
 * finish (and redirect the owner's browser to the failure page) before that, never leave it on a 503.
 */
export const OAUTH_CALLBACK_TIMEOUT = Duration.seconds(29);

/**
 * Sparse GSIs of the token table that the refresh job selects due grants from (docs/design.md, "Selection"):
 * partition key `dueShard` (only ACTIVE grants carry it), sorted by the refresh / access token's expiry.
 */
export const REFRESH_EXPIRY_INDEX = 'byRefreshExpiry';
export const ACCESS_EXPIRY_INDEX = 'byAccessExpiry';
/** POWERTOOLS_SERVICE_NAME of the refresh job, also the `service` dimension of its TokenRefresh* metrics. */
export const TOKEN_REFRESH_SERVICE = 'token-refresh';
/**
 * The refresh job's timeout. A run handles up to ~1,000 due grants at REFRESH_CONCURRENCY 10: 100 rounds of
 * claim, decrypt, Smartcar token exchange, two encrypts and the conditional write, about 1-2 s each, so
 * 100-200 s; 5 minutes leave room for Retry-After waits and backoff. Due grants a run has no time left for
 * are left to the next run (the job stops starting refreshes near its deadline, so it claims nothing it
 * cannot finish). Schedules may not run more often than this, so scheduled runs never overlap.
 */
export const TOKEN_REFRESH_TIMEOUT = Duration.minutes(5);
/**
 * How long a claim holds a grant (REFRESH_LEASE_SECONDS): longer than one refresh including its in-process
 * retries, and short because a run that dies after Smartcar rotated the pair must hand the grant to the next
 * claimant while Smartcar still accepts the old refresh token (about a minute, docs/design.md).
 */
export const TOKEN_REFRESH_LEASE = Duration.seconds(60);
/**
 * The longest time allowed between two refresh runs: the alarms' evaluation windows are derived from it and
 * CloudWatch caps them (one day for the "not running" window of twice this).
 */
export const MAX_REFRESH_GAP_MINUTES = 12 * 60;
/** Smartcar access tokens live 2 hours; a warm window must leave some of that life unused. */
const MAX_ACCESS_WARM_WINDOW_MINUTES = 110;

/**
 * Where the callback sends the owner's browser when `connectSuccessUrl`/`connectFailureUrl` are not set.
 * `.invalid` is reserved (RFC 6761) and never resolves, so unlike a placeholder such as example.com the
 * redirect (and its query string) cannot reach anybody's server. Synth warns while they are in use.
 */
export const PLACEHOLDER_CONNECT_SUCCESS_URL = 'https://connect-success-url-not-configured.invalid/';
export const PLACEHOLDER_CONNECT_FAILURE_URL = 'https://connect-failure-url-not-configured.invalid/';

// ---------------------------------------------------------------------------------------------------------
// Settings (from CDK context, validated)
// ---------------------------------------------------------------------------------------------------------

/** Context keys the app reads (`cdk synth -c key=value` or the "context" block of cdk.json). */
export const CONTEXT_KEYS = [
  'stage',
  'stackName',
  'region',
  'testEvents',
  'maxBodyBytes',
  'alarmEmail',
  'smartcarSecretArn',
  'smartcarSecretName',
  'processorMaxConcurrency',
  'apiRateLimit',
  'apiBurstLimit',
  'connectSuccessUrl',
  'connectFailureUrl',
  'smartcarRedirectUri',
  'smartcarMode',
  'smartcarScopes',
  'tokenRefreshSchedule',
  'refreshWindowDays',
  'accessWarmWindowMinutes',
  'refreshConcurrency',
  'commandAuditDays',
] as const;

/** `-c key=` arrives as an empty string: treat it as "not set" (so defaults and optionals apply). */
const blankAsUnset = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), schema);
/** `-c key=5` arrives as the string "5", cdk.json may hold the number 5. */
const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    // No user:password@ part (these URLs end up in environment variables, logs and address bars) and no
    // #fragment (lost on the redirect): the same rules the Lambdas apply at cold start.
    return (
      url.protocol === 'https:' &&
      url.hostname !== '' &&
      url.username === '' &&
      url.password === '' &&
      url.hash === ''
    );
  } catch {
    return false;
  }
}
/** An absolute https:// URL (what the callback Lambda enforces with REQUIRE_HTTPS_URLS=true). */
const httpsUrl = () =>
  z
    .string()
    .trim()
    .max(2048)
    .refine(isHttpsUrl, 'an absolute https:// URL (without user:password@ or #fragment)');
/**
 * Smartcar permissions (OAuth scopes), optionally `required:`: `a,b` from `-c`, or `["a", "b"]` from
 * cdk.json; trimmed, de-duplicated (order kept: Connect shows them in order), at least one.
 */
const scopeList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((scope) => scope.trim()))
  .pipe(
    z
      .array(
        z
          .string()
          .min(1, 'empty permission name (stray comma?)')
          .refine(isKnownScope, 'a Smartcar permission such as read_vehicle_info or required:read_odometer'),
      )
      .min(1, 'at least one permission'),
  )
  .transform((scopes) => [...new Set(scopes)]);

/** The settings the token-refresh cross-checks read: only checked once each of them is valid on its own. */
const REFRESH_TIMING_KEYS: readonly PropertyKey[] = [
  'tokenRefreshSchedule',
  'refreshWindowDays',
  'accessWarmWindowMinutes',
];
/**
 * An EventBridge `rate(...)` or every-day `cron(...)` expression (UTC) for the refresh job, no more often than
 * the job's timeout (so runs do not overlap) and no less often than MAX_REFRESH_GAP_MINUTES.
 */
const refreshSchedule = z
  .string()
  .trim()
  .superRefine((expression, ctx) => {
    let cadence: ScheduleCadence;
    try {
      cadence = parseScheduleExpression(expression);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return;
    }
    const timeout = TOKEN_REFRESH_TIMEOUT.toMinutes();
    if (cadence.minGapMinutes < timeout) {
      ctx.addIssue({
        code: 'custom',
        message: `runs at most every ${timeout} minutes (the job's timeout), so that runs do not overlap`,
      });
    }
    if (cadence.maxGapMinutes > MAX_REFRESH_GAP_MINUTES) {
      ctx.addIssue({ code: 'custom', message: `runs at least every ${MAX_REFRESH_GAP_MINUTES / 60} hours` });
    }
  });

const settingsSchema = z
  .object({
    /** Deployment stage; part of the stack name, resource names and the metrics namespace. */
    stage: blankAsUnset(
      z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,19}$/, 'lowercase letters, digits, "-"')
        .default('dev'),
    ),
    /** @default `Smartcar-<stage>` */
    stackName: blankAsUnset(
      z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a valid CloudFormation stack name')
        .optional(),
    ),
    /** @default CDK_DEFAULT_REGION, else us-east-1 */
    region: blankAsUnset(
      z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
        .optional(),
    ),
    testEvents: blankAsUnset(z.enum(['separate', 'skip']).default('separate')),
    /** Smartcar sends at most 50 KB; the receiver (and SQS) allow up to 256 KiB. */
    maxBodyBytes: blankAsUnset(integer(1024, 256 * 1024).default(128 * 1024)),
    alarmEmail: blankAsUnset(z.email().optional()),
    smartcarSecretArn: blankAsUnset(
      z
        .string()
        .regex(
          /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
          'a complete secret ARN (ending in "-" and 6 characters)',
        )
        .optional(),
    ),
    smartcarSecretName: blankAsUnset(
      z
        .string()
        .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager name')
        .optional(),
    ),
    /** Lambda's SQS maximum concurrency must be 2..1000. */
    processorMaxConcurrency: blankAsUnset(integer(2, 1000).default(5)),
    apiRateLimit: blankAsUnset(integer(1, 10_000).default(100)),
    apiBurstLimit: blankAsUnset(integer(1, 5_000).default(200)),
    /**
     * Where the vehicle owner's browser goes after Connect (`?status=connected&vehicles=<n>`) or after a
     * failure (`?reason=<code>`): pages of the integrating app. @default a never-resolving placeholder, with
     * a synth warning (set them before real owners connect).
     */
    connectSuccessUrl: blankAsUnset(httpsUrl().optional()),
    connectFailureUrl: blankAsUnset(httpsUrl().optional()),
    /**
     * The OAuth redirect URI registered in the Smartcar Dashboard. @default this API's own
     * `<ApiUrl>oauth/callback` (stack output OAuthCallbackUrl); set it when a custom domain fronts the API.
     */
    smartcarRedirectUri: blankAsUnset(httpsUrl().optional()),
    /** Smartcar Connect mode: real vehicles, Smartcar's test vehicles, or the vehicle simulator. */
    smartcarMode: blankAsUnset(z.enum(['live', 'test', 'simulated']).default('live')),
    /** Default permissions requested in Connect (comma-separated). */
    smartcarScopes: blankAsUnset(scopeList.default(['read_vehicle_info'])),
    /** When the token refresh job runs (EventBridge, UTC). */
    tokenRefreshSchedule: blankAsUnset(refreshSchedule.default('rate(15 minutes)')),
    /** Refresh a grant once its refresh token (60 days) expires within this many days. */
    refreshWindowDays: blankAsUnset(integer(1, 30).default(7)),
    /**
     * Also refresh grants whose access token (2 hours) expires within this many minutes, so that callers of
     * `getAccessToken` rarely wait for a refresh. 0 = off. Near 110 every run refreshes nearly every grant.
     */
    accessWarmWindowMinutes: blankAsUnset(integer(0, MAX_ACCESS_WARM_WINDOW_MINUTES).default(0)),
    /** Refreshes in flight at once within a run (Smartcar calls, KMS and DynamoDB requests scale with it). */
    refreshConcurrency: blankAsUnset(integer(1, 50).default(10)),
    /** How long vehicle command audit items are kept. */
    commandAuditDays: blankAsUnset(integer(1, 3650).default(90)),
  })
  .refine((s) => !(s.smartcarSecretArn && s.smartcarSecretName), {
    message: 'set smartcarSecretArn or smartcarSecretName, not both',
    path: ['smartcarSecretName'],
  })
  .superRefine(
    (s, ctx) => {
      const cadence = parseScheduleExpression(s.tokenRefreshSchedule);
      // At least 4 runs see a grant before its refresh token expires, so a Smartcar outage or a bad deploy
      // that fails a few runs costs nobody their connection.
      if (cadence.maxGapMinutes * 4 > s.refreshWindowDays * 24 * 60) {
        ctx.addIssue({
          code: 'custom',
          message: `runs at least 4 times within refreshWindowDays=${s.refreshWindowDays} days`,
          path: ['tokenRefreshSchedule'],
        });
      }
      // A grant enters the warm window once per access token; a run has to happen inside the window to
      // refresh it before it expires, else warming only works for some tokens.
      if (s.accessWarmWindowMinutes > 0 && s.accessWarmWindowMinutes < cadence.maxGapMinutes) {
        ctx.addIssue({
          code: 'custom',
          message:
            `0 (off) or at least the longest gap between refresh runs (${cadence.maxGapMinutes} minutes), ` +
            'else access tokens expire between runs',
          path: ['accessWarmWindowMinutes'],
        });
      }
    },
    {
      // Not on top of a key's own error (e.g. "4 runs within 0 days" after "refreshWindowDays: too small").
      when: (payload) => !payload.issues.some((issue) => REFRESH_TIMING_KEYS.includes(issue.path?.[0] ?? '')),
    },
  );

export type SmartcarSettings = z.output<typeof settingsSchema>;

/** Validates settings; throws one error naming every bad key (values of secrets are never echoed). */
export function parseSettings(raw: Readonly<Record<string, unknown>>): SmartcarSettings {
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid Smartcar stack settings (CDK context): ${problems.join('; ')}`);
  }
  return result.data;
}

/** Reads and validates the settings from the CDK context of `scope`. */
export function settingsFromContext(scope: Construct): SmartcarSettings {
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) raw[key] = scope.node.tryGetContext(key);
  return parseSettings(raw);
}

/** Context `region`, else the CLI's default region, else us-east-1. */
export function resolveRegion(settings: SmartcarSettings, env: NodeJS.ProcessEnv = process.env): string {
  return settings.region ?? (env.CDK_DEFAULT_REGION || 'us-east-1');
}

// ---------------------------------------------------------------------------------------------------------
// Stack
// ---------------------------------------------------------------------------------------------------------

export interface SmartcarStackProps extends StackProps {
  /** Validated settings; unset ones take their defaults. */
  readonly settings?: Partial<SmartcarSettings>;
  /**
   * Handler files. @default LAMBDA_ENTRIES. Tests that skip bundling may point these at any existing
   * file (NodejsFunction checks that the entry exists even when it does not bundle).
   */
  readonly entries?: LambdaEntries;
}

/**
 * Issue 2, the webhook pipeline:
 * Smartcar → HTTP API → receiver Lambda (HMAC check) → SQS (+DLQ) → processor Lambda → DynamoDB,
 * and `GET /vehicles/{vehicleId}` (IAM) → read Lambda → DynamoDB.
 * Issue 3, OAuth: `POST /connect` (IAM) → state table; Smartcar → `GET /oauth/callback` → token table
 * (token CMK) + vehicle profiles; `GET /vehicles?userId=` (IAM) → read Lambda → GSI byAppUser;
 * `DELETE /vehicles/{vehicleId}` (IAM) → disconnect Lambda.
 * Issue 4, token refresh: EventBridge schedule → refresh Lambda → due grants from the token table's expiry
 * GSIs, rotated with a conditional claim (token CMK: decrypt and encrypt). Contracts: docs/design.md.
 */
export class SmartcarStack extends Stack {
  readonly settings: SmartcarSettings;
  /** Namespace the Lambdas publish their Powertools metrics to. */
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: SmartcarStackProps = {}) {
    super(scope, id, props);
    const settings = parseSettings(props.settings ?? {});
    const entries = props.entries ?? LAMBDA_ENTRIES;
    this.settings = settings;
    this.metricsNamespace = `Smartcar/${settings.stage}`;
    Tags.of(this).add('project', 'smartcar-integration');
    Tags.of(this).add('stage', settings.stage);

    // --- Data -------------------------------------------------------------------------------------------
    const dataKey = new DataKey(this, 'DataKey', {
      // Aliases are unique per account and region, as stack names are.
      alias: `${this.stackName}/data`,
      description: `Encrypts the DynamoDB tables of ${this.stackName}`,
    }).key;

    const vehicleTable = new EncryptedTable(this, 'VehicleStateTable', {
      partitionKey: 'pk',
      sortKey: 'sk',
      timeToLiveAttribute: 'expiresAt',
      encryptionKey: dataKey,
      // RETAIN + deletion protection: the table is the system's record of vehicle state and cannot be
      // rebuilt (Smartcar does not replay past webhooks), so neither a stack deletion nor a resource
      // replacement may drop it.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
      // `GET /vehicles?userId=`: sparse, only profiles linked by the OAuth callback carry appUserId.
      globalSecondaryIndexes: [
        { indexName: VEHICLE_USER_INDEX, partitionKey: 'appUserId', sortKey: 'vehicleId' },
      ],
    });

    const idempotencyTable = new EncryptedTable(this, 'IdempotencyTable', {
      // The schema Powertools Idempotency's DynamoDBPersistenceLayer expects by default.
      partitionKey: 'id',
      timeToLiveAttribute: 'expiration',
      encryptionKey: dataKey,
      // Short-lived deduplication records (TTL 14 days) that are safe to lose with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // OAuth tokens: their own key (see TokenKey for why), their own table.
    const tokenKey = new TokenKey(this, 'TokenKey', {
      alias: `${this.stackName}/tokens`,
      description: `Encrypts the Smartcar OAuth tokens (and their table) of ${this.stackName}`,
    });
    const tokenTable = new EncryptedTable(this, 'TokenTable', {
      partitionKey: 'grantId',
      // No TTL: a grant is deleted explicitly once no vehicle uses it, and an expired refresh token still
      // has to be found to mark its vehicles NEEDS_REAUTH.
      encryptionKey: tokenKey.key,
      // RETAIN + deletion protection: losing the table forces every vehicle owner through Connect again.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
      // The refresh job's selection of due grants without a Scan (docs/design.md). Sparse: only ACTIVE grants
      // carry `dueShard`, so grants waiting for re-authorisation drop out instead of being retried every run.
      // Projection: the keys plus what a run needs to pick and claim grants (`version` for the claim's
      // condition, the other expiry), never the token ciphertexts: an index item stays far below 1 KB (one
      // write unit per index per rotation instead of several) and there is no second copy of the ciphertexts.
      // Not `status`: every grant in the index is ACTIVE. The index is eventually consistent, so the claim
      // (conditional on version, status and lease) decides, and returns the whole item.
      // Both indexes are created together only because this stack has never been deployed: CloudFormation can
      // add or delete just ONE global secondary index per update of an existing table, so a stack that already
      // has the token table has to get them in two deployments (see EncryptedTable.globalSecondaryIndexes).
      globalSecondaryIndexes: [
        {
          indexName: REFRESH_EXPIRY_INDEX,
          partitionKey: 'dueShard',
          sortKey: 'refreshExpiresAt',
          sortKeyType: 'number',
          nonKeyAttributes: ['version', 'accessExpiresAt'],
        },
        {
          // Queried only while accessWarmWindowMinutes > 0, but always there: turning warming on or off must
          // not add or delete an index (a backfill of the whole table, and the one-index-per-update limit).
          indexName: ACCESS_EXPIRY_INDEX,
          partitionKey: 'dueShard',
          sortKey: 'accessExpiresAt',
          sortKeyType: 'number',
          nonKeyAttributes: ['version', 'refreshExpiresAt'],
        },
      ],
    });

    const oauthStateTable = new EncryptedTable(this, 'OAuthStateTable', {
      partitionKey: 'state',
      // DynamoDB deletes expired records; the callback also checks expiresAt since TTL deletion is lazy.
      timeToLiveAttribute: 'expiresAt',
      encryptionKey: dataKey,
      // Records live for minutes: safe to lose with the stack (an owner mid-Connect just starts again).
      removalPolicy: RemovalPolicy.DESTROY,
      // See the acknowledgement below.
      pointInTimeRecovery: false,
    });
    Validations.of(oauthStateTable.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Single-use OAuth state records that expire within minutes: any restored copy would hold only ' +
        'expired or consumed states, which the callback refuses, so a restore can recover nothing; losing ' +
        'the table only makes owners in the middle of Connect start again. PITR would also keep the ' +
        'state-to-app-user bindings for 35 days after TTL deleted them.',
    });

    const secret = new SmartcarSecret(this, 'SmartcarSecret', {
      existingSecretArn: settings.smartcarSecretArn,
      existingSecretName: settings.smartcarSecretName,
    });

    const webhookQueue = new WebhookQueue(this, 'WebhookQueue', { consumerTimeout: PROCESSOR_TIMEOUT });

    // --- Compute ----------------------------------------------------------------------------------------
    const common = { depsLockFilePath: DEPS_LOCK_FILE, metricsNamespace: this.metricsNamespace };

    const receiver = new NodeLambda(this, 'WebhookReceiver', {
      ...common,
      entry: entries.receiver,
      description: 'Smartcar webhook receiver: verifies the HMAC signature and queues the raw event',
      serviceName: 'webhook-receiver',
      // Small: it hashes one body and sends one SQS message.
      memorySize: 256,
      // Well inside Smartcar's 15 s delivery timeout, so a slow call fails (and Smartcar retries)
      // rather than having Smartcar give up while we are still working.
      timeout: Duration.seconds(10),
      environment: {
        QUEUE_URL: webhookQueue.queue.queueUrl,
        SMARTCAR_SECRET_ID: secret.secretId,
        MAX_BODY_BYTES: String(settings.maxBodyBytes),
      },
    });
    webhookQueue.grantSend(receiver.role);
    secret.grantRead(receiver.role);

    const processor = new NodeLambda(this, 'WebhookProcessor', {
      ...common,
      entry: entries.processor,
      description: 'Smartcar webhook processor: applies queued events to the vehicle-state table',
      serviceName: 'webhook-processor',
      // Parses up to 10 events with many signals each and runs conditional writes; more memory also
      // means proportionally more CPU.
      memorySize: 512,
      timeout: PROCESSOR_TIMEOUT,
      environment: {
        VEHICLE_TABLE_NAME: vehicleTable.table.tableName,
        IDEMPOTENCY_TABLE_NAME: idempotencyTable.table.tableName,
        TEST_EVENTS: settings.testEvents,
        // Remember event ids as long as the DLQ keeps messages, so a redrive is deduplicated too.
        DEDUPE_TTL_SECONDS: String(DLQ_RETENTION.toSeconds()),
      },
    });
    vehicleTable.grantReadWriteItems(processor.role);
    idempotencyTable.grantReadWriteItems(processor.role);
    processor.function.addEventSource(
      new SqsEventSource(webhookQueue.queue, {
        // Up to 10 records per invocation: fewer invocations, and Powertools' BatchProcessor handles
        // each record on its own.
        batchSize: PROCESSOR_BATCH_SIZE,
        // Wait up to 2 s to fill a batch: fewer, fuller invocations under load at a small latency cost.
        maxBatchingWindow: PROCESSOR_BATCHING_WINDOW,
        // Only the failed records return to the queue (and, after 5 receives, the DLQ); without it one bad
        // record would make the whole batch be retried and reprocessed.
        reportBatchItemFailures: true,
        // Bounded so a burst (e.g. a fleet-wide FIRST_DELIVERY) drains steadily instead of fanning out
        // into hundreds of concurrent writers that throttle DynamoDB and exhaust account concurrency; the
        // queue absorbs the backlog. Unlike reserved concurrency, this does not throttle messages back
        // into the queue (which would burn receive counts towards the DLQ).
        maxConcurrency: settings.processorMaxConcurrency,
      }),
    );

    const vehicleRead = new NodeLambda(this, 'VehicleRead', {
      ...common,
      entry: entries.vehicleRead,
      description: "Vehicle state read API: one vehicle's stored state, or an app user's linked vehicles",
      serviceName: 'vehicle-read',
      memorySize: 256,
      // A few key lookups; API Gateway would give up after 30 s anyway.
      timeout: Duration.seconds(10),
      environment: {
        VEHICLE_TABLE_NAME: vehicleTable.table.tableName,
      },
    });
    vehicleTable.grantReadItems(vehicleRead.role);
    vehicleTable.grantQueryIndex(vehicleRead.role, VEHICLE_USER_INDEX);

    // --- API --------------------------------------------------------------------------------------------
    const api = new SmartcarHttpApi(this, 'HttpApi', {
      webhookHandler: receiver.function,
      vehicleReadHandler: vehicleRead.function,
      throttle: { rateLimit: settings.apiRateLimit, burstLimit: settings.apiBurstLimit },
    });

    // --- OAuth (issue 3) ---------------------------------------------------------------------------------
    // The default redirect URI is this API's own callback route. Its URL exists only after the first
    // deploy, and Smartcar rejects Connect until it is registered in the Dashboard: the operator copies the
    // OAuthCallbackUrl output there once (it stays stable for the life of the API).
    const redirectUri = settings.smartcarRedirectUri ?? api.oauthCallbackUrl;
    const connectPages = this.connectPages(settings);

    const oauthConnect = new NodeLambda(this, 'OAuthConnect', {
      ...common,
      entry: entries.oauthConnect,
      description: 'OAuth connect: creates a single-use state and returns the Smartcar Connect URL',
      serviceName: 'oauth-connect',
      memorySize: 256,
      // One secret read (cached) and one PutItem.
      timeout: Duration.seconds(10),
      environment: {
        OAUTH_STATE_TABLE_NAME: oauthStateTable.table.tableName,
        SMARTCAR_SECRET_ID: secret.secretId,
        SMARTCAR_REDIRECT_URI: redirectUri,
        SMARTCAR_MODE: settings.smartcarMode,
        SMARTCAR_DEFAULT_SCOPES: settings.smartcarScopes.join(','),
        // The redirect URI it hands to Smartcar must be https in AWS, like the callback's URLs.
        REQUIRE_HTTPS_URLS: 'true',
      },
    });
    // Creates state records; it never reads, consumes or deletes them.
    oauthStateTable.grantItems(oauthConnect.role, ['dynamodb:PutItem']);
    // The client id for the Connect URL.
    secret.grantRead(oauthConnect.role);

    const oauthCallback = new NodeLambda(this, 'OAuthCallback', {
      ...common,
      entry: entries.oauthCallback,
      description:
        'OAuth callback: consumes the state, exchanges the code, stores the grant and links vehicles',
      serviceName: OAUTH_CALLBACK_SERVICE,
      // Several Smartcar calls (token exchange, user, vehicles and their attributes) plus KMS and
      // DynamoDB transactions per vehicle: more memory also means more CPU and network throughput.
      memorySize: 512,
      timeout: OAUTH_CALLBACK_TIMEOUT,
      environment: {
        OAUTH_STATE_TABLE_NAME: oauthStateTable.table.tableName,
        TOKEN_TABLE_NAME: tokenTable.table.tableName,
        TOKEN_KEY_ID: tokenKey.keyArn,
        VEHICLE_TABLE_NAME: vehicleTable.table.tableName,
        SMARTCAR_SECRET_ID: secret.secretId,
        SMARTCAR_REDIRECT_URI: redirectUri,
        CONNECT_SUCCESS_URL: connectPages.success,
        CONNECT_FAILURE_URL: connectPages.failure,
        REQUIRE_HTTPS_URLS: 'true',
      },
    });
    // Consumes a state with one conditional UpdateItem (ReturnValues ALL_NEW); no Get, Put or Delete.
    oauthStateTable.grantItems(oauthCallback.role, ['dynamodb:UpdateItem']);
    // Puts the new grant, moves vehicles between grants, deletes grants left without vehicles.
    tokenTable.grantItems(oauthCallback.role, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // Reads a profile's current grant and links it (UpdateItem inside TransactWriteItems).
    vehicleTable.grantItems(oauthCallback.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Encrypt only: the callback stores new tokens and never reads one back, so this Lambda behind a public
    // route could not decrypt the stored tokens even if it were compromised (only the refresh job decrypts).
    tokenKey.grantTokenCrypto(oauthCallback.role, ['kms:Encrypt']);
    // Client id and secret for the code exchange.
    secret.grantRead(oauthCallback.role);

    const vehicleDisconnect = new NodeLambda(this, 'VehicleDisconnect', {
      ...common,
      entry: entries.vehicleDisconnect,
      description: 'Vehicle disconnect API: revokes the Smartcar connection and unlinks the vehicle',
      serviceName: 'vehicle-disconnect',
      memorySize: 256,
      // One Smartcar Management API call and a transaction; API Gateway would give up after 30 s anyway.
      timeout: Duration.seconds(15),
      environment: {
        TOKEN_TABLE_NAME: tokenTable.table.tableName,
        VEHICLE_TABLE_NAME: vehicleTable.table.tableName,
        SMARTCAR_SECRET_ID: secret.secretId,
      },
    });
    vehicleTable.grantItems(vehicleDisconnect.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Removes the vehicle from its grant and deletes the grant once empty. Through DynamoDB only: it never
    // touches a token, so no direct use of the token key.
    tokenTable.grantItems(vehicleDisconnect.role, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // The Application Management Token for the Management API's deleteConnections.
    secret.grantRead(vehicleDisconnect.role);

    api.addOAuthRoutes({
      connect: oauthConnect.function,
      callback: oauthCallback.function,
      disconnect: vehicleDisconnect.function,
    });

    // --- Scheduled token refresh (issue 4) ---------------------------------------------------------------
    const refreshCadence = parseScheduleExpression(settings.tokenRefreshSchedule);
    const tokenRefresh = new NodeLambda(this, 'TokenRefresh', {
      ...common,
      entry: entries.tokenRefresh,
      description: 'Token refresh job: rotates the Smartcar tokens of due grants, on a schedule',
      serviceName: TOKEN_REFRESH_SERVICE,
      // Up to REFRESH_CONCURRENCY refreshes in flight, each with TLS to Smartcar, KMS and DynamoDB: more
      // memory also means more CPU and network throughput.
      memorySize: 512,
      timeout: TOKEN_REFRESH_TIMEOUT,
      // One run at a time. Not for correctness (the conditional claim makes overlapping runs race-free), but
      // a second run would repeat the first one's Query and lose every claim race: wasted requests, and up to
      // twice REFRESH_CONCURRENCY calls to Smartcar's rate limits. An operator's invocation during a run is
      // refused (429) instead, and a scheduled one waits in Lambda's queue (see ScheduledJob). The cost: 1 of
      // the account's concurrency is reserved, which accounts on the smallest concurrency quota cannot do
      // (Lambda keeps 100 unreserved); raise the quota there.
      reservedConcurrentExecutions: 1,
      environment: {
        TOKEN_TABLE_NAME: tokenTable.table.tableName,
        TOKEN_KEY_ID: tokenKey.keyArn,
        VEHICLE_TABLE_NAME: vehicleTable.table.tableName,
        SMARTCAR_SECRET_ID: secret.secretId,
        // The smartcar SDK's AuthClient requires one, although a refresh-token exchange does not send it.
        SMARTCAR_REDIRECT_URI: redirectUri,
        REFRESH_WINDOW_DAYS: String(settings.refreshWindowDays),
        ACCESS_WARM_WINDOW_MINUTES: String(settings.accessWarmWindowMinutes),
        REFRESH_CONCURRENCY: String(settings.refreshConcurrency),
        REFRESH_LEASE_SECONDS: String(TOKEN_REFRESH_LEASE.toSeconds()),
      },
    });
    // Claims (UpdateItem), reads (GetItem) and persists (UpdateItem) grants, marks them NEEDS_REAUTH, and
    // deletes grants left without vehicles (DeleteItem, conditional). No Put: it never creates a grant.
    tokenTable.grantItems(tokenRefresh.role, [
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    tokenTable.grantQueryIndex(tokenRefresh.role, REFRESH_EXPIRY_INDEX);
    // The access-expiry index only while warming is on: the job does not query it otherwise.
    if (settings.accessWarmWindowMinutes > 0) {
      tokenTable.grantQueryIndex(tokenRefresh.role, ACCESS_EXPIRY_INDEX);
    }
    // Sets the profiles of a dead grant's vehicles to NEEDS_REAUTH (conditional UpdateItem). It never reads a
    // profile: getAccessToken, which does, runs in the Lambdas that call Smartcar for a vehicle.
    vehicleTable.grantItems(tokenRefresh.role, ['dynamodb:UpdateItem']);
    // The only role that decrypts tokens: it reads the refresh token and stores the rotated pair.
    tokenKey.grantTokenCrypto(tokenRefresh.role, ['kms:Encrypt', 'kms:Decrypt']);
    // Client id and secret for the token endpoint.
    secret.grantRead(tokenRefresh.role);

    const refreshJob = new ScheduledJob(this, 'TokenRefreshSchedule', {
      handler: tokenRefresh.function,
      schedule: refreshCadence,
      description: `Runs the Smartcar token refresh of ${this.stackName} (${refreshCadence.expression})`,
    });

    // --- Operations -------------------------------------------------------------------------------------
    const onCall = new OnCallTopic(this, 'OnCall', { email: settings.alarmEmail });

    // --- Vehicle commands (lock, unlock, charging) -------------------------------------------------------
    const vehicleCommands = new VehicleCommands(this, 'VehicleCommands', {
      ...common,
      entry: entries.vehicleCommand,
      dataKey,
      vehicleTable,
      tokenTable,
      tokenKey,
      secret,
      redirectUri,
      auditDays: settings.commandAuditDays,
      httpApi: api.httpApi,
      alarmTopic: onCall.topic,
      processor,
    });
    new CfnOutput(this, 'CommandAuditTableName', { value: vehicleCommands.auditTable.table.tableName });
    new PipelineAlarms(this, 'Alarms', {
      topic: onCall.topic,
      stage: api.stage,
      receiver: receiver.function,
      processor: processor.function,
      queue: webhookQueue.queue,
      deadLetterQueue: webhookQueue.deadLetterQueue,
    });
    new OAuthAlarms(this, 'OAuthAlarms', {
      topic: onCall.topic,
      metricsNamespace: this.metricsNamespace,
      callbackServiceName: OAUTH_CALLBACK_SERVICE,
      connect: oauthConnect.function,
      callback: oauthCallback.function,
      disconnect: vehicleDisconnect.function,
    });
    new TokenRefreshAlarms(this, 'TokenRefreshAlarms', {
      topic: onCall.topic,
      metricsNamespace: this.metricsNamespace,
      serviceName: TOKEN_REFRESH_SERVICE,
      handler: tokenRefresh.function,
      schedule: refreshCadence,
    });

    // --- Outputs ----------------------------------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'WebhookUrl', {
      value: api.webhookUrl,
      description: 'Callback URI to configure for the webhook in the Smartcar dashboard',
    });
    new CfnOutput(this, 'SmartcarSecretId', {
      value: secret.secretId,
      description: secret.created
        ? 'ARN of the Smartcar credentials secret: replace the REPLACE_ME values with put-secret-value'
        : 'Name or ARN of the imported Smartcar credentials secret',
    });
    new CfnOutput(this, 'WebhookQueueUrl', { value: webhookQueue.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: webhookQueue.deadLetterQueue.queueUrl,
      description: 'Failed webhook events; redrive to the webhook queue after fixing the cause',
    });
    new CfnOutput(this, 'VehicleStateTableName', { value: vehicleTable.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: onCall.topic.topicArn });
    new CfnOutput(this, 'OAuthCallbackUrl', {
      value: redirectUri,
      description: "Redirect URI to register in the Smartcar Dashboard (the application's redirect URIs)",
    });
    new CfnOutput(this, 'ConnectUrl', {
      value: api.connectUrl,
      description: 'POST here (SigV4-signed) to start Smartcar Connect for an app user',
    });
    new CfnOutput(this, 'TokenTableName', { value: tokenTable.table.tableName });
    new CfnOutput(this, 'TokenRefreshFunctionName', {
      value: tokenRefresh.function.functionName,
      description: 'The scheduled token refresh; invoke it to run a refresh now (see the README)',
    });
    new CfnOutput(this, 'TokenRefreshDeadLetterQueueUrl', {
      value: refreshJob.deadLetterQueue.queueUrl,
      description: 'Token refresh runs that failed or were dropped, with the reason (for diagnosis only)',
    });
  }

  /** The success/failure pages from the settings, else the placeholders, with a warning at synth. */
  private connectPages(settings: SmartcarSettings): { success: string; failure: string } {
    const unset = [
      settings.connectSuccessUrl ? undefined : 'connectSuccessUrl',
      settings.connectFailureUrl ? undefined : 'connectFailureUrl',
    ].filter((key) => key !== undefined);
    if (unset.length > 0) {
      // A warning, not an error: `cdk synth` must work offline without any context (CI), and a stack that
      // only receives webhooks does not need the pages. `cdk deploy --strict` turns it into a failure.
      Validations.of(this).addWarning(
        'smartcar:ConnectPagesNotConfigured',
        `${unset.join(' and ')} not set: after Smartcar Connect, vehicle owners are sent to a placeholder ` +
          'that does not resolve. Set them to pages of your app, e.g. ' +
          '-c connectSuccessUrl=https://app.example.com/cars/connected ' +
          '-c connectFailureUrl=https://app.example.com/cars/connect-failed',
      );
    }
    return {
      success: settings.connectSuccessUrl ?? PLACEHOLDER_CONNECT_SUCCESS_URL,
      failure: settings.connectFailureUrl ?? PLACEHOLDER_CONNECT_FAILURE_URL,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// App
// ---------------------------------------------------------------------------------------------------------

/**
 * Builds the CDK app: settings from context, the stack in an explicit region, and cdk-nag's AWS Solutions
 * checks as a policy-validation plugin, so `cdk synth` fails on any unacknowledged finding.
 */
export interface CreateSmartcarAppOptions {
  readonly appProps?: AppProps;
  /** Where CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION come from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly entries?: LambdaEntries;
}

export function createSmartcarApp(options: CreateSmartcarAppOptions = {}): {
  app: App;
  stack: SmartcarStack;
} {
  const env = options.env ?? process.env;
  const app = new App(options.appProps);
  const settings = settingsFromContext(app);
  const stack = new SmartcarStack(app, settings.stackName ?? `Smartcar-${settings.stage}`, {
    settings,
    entries: options.entries,
    description: `Smartcar webhooks on AWS (stage ${settings.stage})`,
    // Explicit region: resources such as the kms:ViaService condition need a concrete one. The account
    // stays whatever the CLI resolves (or unresolved for offline synth).
    env: { account: env.CDK_DEFAULT_ACCOUNT, region: resolveRegion(settings, env) },
  });
  // cdk-nag 3 is a policy-validation plugin (not an Aspect): it runs after synthesis and fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
