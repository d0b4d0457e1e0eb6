/**
 * CDK app entry (cdk.json runs `npx tsx bin/app.ts`).
 *
 * Context keys (all optional; validated, see lib/settings.ts): stage, stackName, region, testEvents,
 * maxBodyBytes, alarmEmail, smartcarSecretArn | smartcarSecretName, processorMaxConcurrency, apiRateLimit,
 * apiBurstLimit, and for Smartcar Connect (OAuth):
 * - connectSuccessUrl, connectFailureUrl: https pages of your app the owner's browser lands on after
 *   Connect. Unset, they default to a never-resolving `.invalid` placeholder and synth prints a warning
 *   (`cdk synth` has to work offline without context, e.g. in CI); set them before real owners connect.
 * - smartcarRedirectUri: default this API's own `…/oauth/callback` (output OAuthCallbackUrl). Register that
 *   URL in the Smartcar Dashboard after the first deploy; set this key only if a custom domain fronts the API.
 * - smartcarMode: live (default) | test | simulated.
 * - smartcarScopes: comma-separated Smartcar permissions, default read_vehicle_info.
 * and for the scheduled token refresh:
 * - tokenRefreshSchedule: EventBridge rate(...) or every-day cron(...) (UTC), default rate(15 minutes); runs
 *   at most every 5 minutes (the job's timeout) and at least every 12 hours. The alarms follow the schedule.
 * - refreshWindowDays: refresh a grant once its refresh token expires within this many days, 1-30, default 7
 *   (the schedule must run at least 4 times in this window).
 * - accessWarmWindowMinutes: also refresh access tokens expiring within this many minutes, 0-110, default 0
 *   (off); when on, at least the longest gap between runs.
 * - refreshConcurrency: refreshes in flight per run, 1-50, default 10.
 * and for the optional edge front (README, "Edge protection"):
 * - edgeProtection: on | off (default): CloudFront + AWS WAF in front of the webhook and the OAuth callback;
 *   outside us-east-1 also a `<stackName>-Edge` stack there for the web ACL (deploy with --all).
 * - edgeRateLimit, edgeWebhookRateLimit: requests per source IP in 5 minutes before WAF blocks, default 300
 *   (the callback and other paths) and 100000 (the webhook route).
 * Example: npx cdk deploy -c stage=prod -c alarmEmail=oncall@example.com \
 *   -c connectSuccessUrl=https://app.example.com/cars/connected \
 *   -c connectFailureUrl=https://app.example.com/cars/connect-failed
 */
import { createSmartcarApp } from '../lib/app.js';

createSmartcarApp();
