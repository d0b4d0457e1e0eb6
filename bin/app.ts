/**
 * CDK app entry (cdk.json runs `npx tsx bin/app.ts`).
 *
 * Context keys (all optional; validated, see lib/smartcar-stack.ts): stage, stackName, region, testEvents,
 * maxBodyBytes, alarmEmail, smartcarSecretArn | smartcarSecretName, processorMaxConcurrency, apiRateLimit,
 * apiBurstLimit, and for Smartcar Connect (OAuth):
 * - connectSuccessUrl, connectFailureUrl: https pages of your app the owner's browser lands on after
 *   Connect. Unset, they default to a never-resolving `.invalid` placeholder and synth prints a warning
 *   (`cdk synth` has to work offline without context, e.g. in CI); set them before real owners connect.
 * - smartcarRedirectUri: default this API's own `…/oauth/callback` (output OAuthCallbackUrl). Register that
 *   URL in the Smartcar Dashboard after the first deploy; set this key only if a custom domain fronts the API.
 * - smartcarMode: live (default) | test | simulated.
 * - smartcarScopes: comma-separated Smartcar permissions, default read_vehicle_info.
 * Example: npx cdk deploy -c stage=prod -c alarmEmail=oncall@example.com \
 *   -c connectSuccessUrl=https://app.example.com/cars/connected \
 *   -c connectFailureUrl=https://app.example.com/cars/connect-failed
 */
import { createSmartcarApp } from '../lib/smartcar-stack.js';

createSmartcarApp();
