import type { Construct } from 'constructs';
import { z } from 'zod';
import {
  DEFAULT_PROCESSOR_MAX_CONCURRENCY,
  FUNCTIONS,
  isRedirectUrl,
  SMARTCAR_MODES,
} from '../contracts/index.js';
// The Lambdas' own list of Smartcar permissions (a dependency-free module): synth rejects exactly the scopes
// the connect Lambda would reject at cold start, instead of a deploy that then fails on the first request.
import { isKnownScope } from '../lambdas/oauth/scopes.js';
import { parseWebhookIds } from '../lambdas/subscriptions/subscription.js';
import { parseScheduleExpression, type ScheduleCadence } from './schedule-expression.js';

/**
 * The stack's settings, from CDK context (`cdk synth -c key=value` or the "context" block of cdk.json),
 * validated at synth.
 */

/**
 * The longest time allowed between two refresh runs: the alarms' evaluation windows are derived from it and
 * CloudWatch caps them (one day for the "not running" window of twice this).
 */
export const MAX_REFRESH_GAP_MINUTES = 12 * 60;
/** Smartcar access tokens live 2 hours; a warm window must leave some of that life unused. */
const MAX_ACCESS_WARM_WINDOW_MINUTES = 110;

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
  'smartcarWebhookIds',
  'connectConfirmation',
  'connectConfirmMinutes',
  'reconcileRevokeOrphans',
  // Operations
  'owner',
  'logLevel',
  'retainData',
  'webhookRateLimit',
  'webhookBurstLimit',
  'webhookSilenceHours',
  'queueSenderArns',
  'edgeProtection',
  'edgeRateLimit',
  'edgeWebhookRateLimit',
  'edgeOriginGeneration',
] as const;

/** `-c key=` arrives as an empty string: treat it as "not set" (so defaults and optionals apply). */
const blankAsUnset = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), schema);
/** `wh-a,wh-b` (or a JSON list in cdk.json) → ids, each usable in a key and a path (the Lambdas' own rule). */
const webhookIdList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => parseWebhookIds(Array.isArray(value) ? value.join(',') : value))
  .pipe(
    z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'webhook ids: letters, digits, . _ : -')),
  );
/** `-c key=5` arrives as the string "5", cdk.json may hold the number 5. */
const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * An absolute https:// URL without user:password@ or #fragment: the same rules the Lambdas apply at cold start
 * (what the callback Lambda enforces with REQUIRE_HTTPS_URLS=true).
 */
const httpsUrl = () =>
  z
    .string()
    .trim()
    .max(2048)
    .refine(
      (value) => isRedirectUrl(value, ['https:']),
      'an absolute https:// URL (without user:password@ or #fragment)',
    );
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
    const timeout = FUNCTIONS.tokenRefresh.timeoutSeconds / 60;
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
    processorMaxConcurrency: blankAsUnset(integer(2, 1000).default(DEFAULT_PROCESSOR_MAX_CONCURRENCY)),
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
     * `<ApiUrl>oauth/callback`, or its CloudFront URL with `edgeProtection=on` (stack output OAuthCallbackUrl);
     * set it when a custom domain fronts the API.
     */
    smartcarRedirectUri: blankAsUnset(httpsUrl().optional()),
    /** Smartcar Connect mode: real vehicles, Smartcar's test vehicles, or the vehicle simulator. */
    smartcarMode: blankAsUnset(z.enum(SMARTCAR_MODES).default('live')),
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
    /** How long vehicle command audit items are kept (days). */
    commandAuditDays: blankAsUnset(integer(1, 3650).default(90)),
    /** The `owner` tag of every resource: who is paged, who pays. @default `unowned` (set it) */
    owner: blankAsUnset(
      z
        .string()
        .regex(/^[\w.:/=+@ -]{1,256}$/, 'a tag value')
        .default('unowned'),
    ),
    /** POWERTOOLS_LOG_LEVEL of every Lambda. DEBUG adds detail, never secrets (see RUNBOOK.md). */
    logLevel: blankAsUnset(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO')),
    /**
     * RETAIN the tables, keys, queues and the secret when the stack is deleted or they are replaced (`true`),
     * or let `cdk destroy` remove them (`false`). @default true for stage `prod`, false otherwise
     */
    retainData: blankAsUnset(
      z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).optional(),
    ),
    /** Throttling of the public webhook route, apart from the IAM routes' `apiRateLimit`. See SmartcarHttpApi. */
    webhookRateLimit: blankAsUnset(integer(1, 10_000).default(1_000)),
    webhookBurstLimit: blankAsUnset(integer(1, 5_000).default(2_000)),
    /**
     * Hours without a queued webhook while grants are ACTIVE that page (0 = no such alarm). At most a week:
     * CloudWatch evaluates at most 7 days of hourly periods.
     */
    webhookSilenceHours: blankAsUnset(integer(0, 168).default(6)),
    /**
     * Principal ARN patterns besides the receiver allowed to send to the webhook queue, comma-separated: the
     * operator role that runs `npm run redrive` (a move task sends as its caller). @default none
     */
    queueSenderArns: blankAsUnset(
      z
        .union([z.string(), z.array(z.string())])
        .transform((value) =>
          (Array.isArray(value) ? value : value.split(','))
            .map((arn) => arn.trim())
            .filter((arn) => arn !== ''),
        )
        .pipe(
          z.array(
            z
              .string()
              .regex(/^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@/*?-]+$/, 'a principal ARN (pattern)'),
          ),
        )
        .default([]),
    ),
    /**
     * `on`: CloudFront with an AWS WAF web ACL (rate limits per source IP) in front of the public routes, the
     * webhook and the OAuth callback (lib/features/edge-front.ts). Outside us-east-1 the app adds a companion
     * stack there for the web ACL. Turning it on changes WebhookUrl and OAuthCallbackUrl (README).
     */
    edgeProtection: blankAsUnset(z.enum(['on', 'off']).default('off')),
    /**
     * Requests per source IP within 5 minutes on the OAuth callback (and any other path but the webhook's)
     * above which AWS WAF blocks the address; AWS's minimum is 10. An owner's browser calls it once per
     * Connect; the headroom is for many owners behind one carrier or office NAT.
     */
    edgeRateLimit: blankAsUnset(integer(10, 2_000_000_000).default(300)),
    /**
     * Requests per source IP within 5 minutes on the webhook route above which AWS WAF blocks the address.
     * Smartcar delivers a whole fleet's webhooks from a few addresses: 100,000 (≈ 333/s from one address) fits
     * a 100k-vehicle fleet's busy rate from a single address, yet one flooding address can use at most a
     * third of the route's 5-minute budget at the default `webhookRateLimit`.
     */
    edgeWebhookRateLimit: blankAsUnset(integer(10, 2_000_000_000).default(100_000)),
    /**
     * Generation of the edge front's origin secret (the x-origin-verify value). Raising it makes the next
     * deploy generate a new value and hand it to CloudFront and the locked Lambdas together (RUNBOOK.md,
     * EdgeBlockedRequests): the secret is resolved into the distribution at deploy time, so changing its
     * value by hand would lock Smartcar out.
     */
    edgeOriginGeneration: blankAsUnset(integer(1, 1_000_000).default(1)),
    /**
     * Smartcar webhook ids (comma-separated) each newly linked vehicle is subscribed to. @default none: the
     * Dashboard's auto-enrollment subscribes every vehicle of the application (README, "Webhook subscriptions").
     */
    smartcarWebhookIds: blankAsUnset(webhookIdList.default([])),
    /**
     * `on`: a Connect's vehicles are linked only when the app's backend confirms the connect for the user
     * logged in on the browser that came back (POST /connect/{connectId}/confirm). `off`: linked by the
     * callback for whoever started the Connect (docs/design.md, "Confirmed connect": what that gives up).
     */
    connectConfirmation: blankAsUnset(z.enum(['on', 'off']).default('on')),
    /** How long a pending connect waits for its confirm before the expiry job revokes it. */
    connectConfirmMinutes: blankAsUnset(integer(1, 24 * 60).default(15)),
    /** The reconciliation also revokes connections no grant knows that are older than a day. */
    reconcileRevokeOrphans: blankAsUnset(
      z
        .union([z.boolean(), z.enum(['true', 'false'])])
        .transform((value) => value === true || value === 'true')
        .default(false),
    ),
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

/** Whether stateful resources outlive the stack: `retainData`, else only in `prod`. */
export function retainsData(settings: Pick<SmartcarSettings, 'stage' | 'retainData'>): boolean {
  return settings.retainData ?? settings.stage === 'prod';
}

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
