/**
 * CDK app entry (cdk.json runs `npx tsx bin/app.ts`).
 *
 * Context keys (all optional): stage, stackName, region, testEvents, maxBodyBytes, alarmEmail,
 * smartcarSecretArn | smartcarSecretName, processorMaxConcurrency, apiRateLimit, apiBurstLimit.
 * Example: npx cdk synth -c stage=prod -c alarmEmail=oncall@example.com
 */
import { createSmartcarApp } from '../lib/smartcar-stack.js';

createSmartcarApp();
