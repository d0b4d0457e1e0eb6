import * as z from 'zod/mini';
import { loadConfig, nonEmpty, positiveInt, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, smartcarTimeoutMs } from '../oauth/oauth-config.js';

/** The subscription worker (docs/design.md, "Webhook subscriptions"). */
export const subscriptionWorkerConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
  TOKEN_TABLE_NAME: nonEmpty,
  TOKEN_KEY_ID: nonEmpty,
  SMARTCAR_SECRET_ID: nonEmpty,
  /** The SDK's AuthClient needs one when an access token has to be refreshed first. */
  SMARTCAR_REDIRECT_URI: absoluteUrl,
  SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
  /** The subscription queue: the worker postpones a message's next receive on it (the back-off). */
  SUBSCRIPTION_QUEUE_URL: absoluteUrl,
  /** The queue's maxReceiveCount: the receive that makes a still-failing subscription FAILED. */
  SUBSCRIPTION_MAX_ATTEMPTS: positiveInt(8),
  /** The refresh job's recovery queue: a rotated pair that could not be stored is parked there. */
  TOKEN_RECOVERY_QUEUE_URL: nonEmpty,
} satisfies ConfigShape<'subscriptionWorker'>);

export type SubscriptionWorkerConfig = z.infer<typeof subscriptionWorkerConfigSchema>;

export function loadSubscriptionWorkerConfig(env: NodeJS.ProcessEnv = process.env): SubscriptionWorkerConfig {
  return loadConfig(subscriptionWorkerConfigSchema, env);
}
