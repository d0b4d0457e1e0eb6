import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, booleanFlag, requireHttps, smartcarTimeoutMs } from '../oauth/oauth-config.js';
import { requireSubscriptionQueue, subscriptionSettings } from '../subscriptions/config.js';
import { DEFAULT_MANAGEMENT_ORIGIN } from '../smartcar/gateway.js';

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
    /** `required`: vehicles are linked by POST /connect/{connectId}/confirm; `off`: at once. */
    CONNECT_CONFIRMATION: z._default(z.enum(['required', 'off']), 'required'),
    /** How long a pending connect waits for its confirm before the expiry job revokes it. */
    CONNECT_CONFIRM_MINUTES: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1440)), 15),
    /** The same variable the smartcar SDK reads; set only locally and in tests (the fake). */
    SMARTCAR_MANAGEMENT_API_ORIGIN: z._default(absoluteUrl, DEFAULT_MANAGEMENT_ORIGIN),
    /** Set with the edge front on: the secret CloudFront's origin-verify header must match. */
    EDGE_ORIGIN_SECRET_ID: z.optional(nonEmpty),
  } satisfies ConfigShape<'oauthCallback'>)
  .check(
    z.superRefine(requireHttps('SMARTCAR_REDIRECT_URI', 'CONNECT_SUCCESS_URL', 'CONNECT_FAILURE_URL')),
    z.superRefine(requireSubscriptionQueue),
  );

export type CallbackConfig = z.infer<typeof callbackConfigSchema>;

export function loadCallbackConfig(env: NodeJS.ProcessEnv = process.env): CallbackConfig {
  return loadConfig(callbackConfigSchema, env);
}
