import { z } from 'zod';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, booleanFlag, requireHttps, smartcarTimeoutMs } from '../oauth/oauth-config.js';
import { requireSubscriptionQueue, subscriptionSettings } from '../subscriptions/config.js';

/** GET /oauth/callback (docs/design.md, "Lambda environment (new)"). */
export const callbackConfigSchema = z
  .object({
    OAUTH_STATE_TABLE_NAME: nonEmpty,
    TOKEN_TABLE_NAME: nonEmpty,
    TOKEN_KEY_ID: nonEmpty,
    VEHICLE_TABLE_NAME: nonEmpty,
    SMARTCAR_SECRET_ID: nonEmpty,
    SMARTCAR_REDIRECT_URI: absoluteUrl,
    CONNECT_SUCCESS_URL: absoluteUrl,
    CONNECT_FAILURE_URL: absoluteUrl,
    REQUIRE_HTTPS_URLS: booleanFlag(true),
    SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
    ...subscriptionSettings,
  } satisfies ConfigShape<'oauthCallback'>)
  .superRefine(requireHttps('SMARTCAR_REDIRECT_URI', 'CONNECT_SUCCESS_URL', 'CONNECT_FAILURE_URL'))
  .superRefine(requireSubscriptionQueue);

export type CallbackConfig = z.infer<typeof callbackConfigSchema>;

export function loadCallbackConfig(env: NodeJS.ProcessEnv = process.env): CallbackConfig {
  return loadConfig(callbackConfigSchema, env);
}
