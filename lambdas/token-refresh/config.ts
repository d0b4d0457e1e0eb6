import * as z from 'zod/mini';
import { loadConfig, nonEmpty, positiveInt, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, smartcarTimeoutMs } from '../oauth/oauth-config.js';

/** The scheduled token refresh (docs/design.md, "Scheduled token refresh", "Environment"). */
export const refreshConfigSchema = z.object({
  TOKEN_TABLE_NAME: nonEmpty,
  TOKEN_KEY_ID: nonEmpty,
  VEHICLE_TABLE_NAME: nonEmpty,
  SMARTCAR_SECRET_ID: nonEmpty,
  /** The SDK's AuthClient needs one; a refresh-token exchange does not send it. */
  SMARTCAR_REDIRECT_URI: absoluteUrl,
  /** Limit of one exchange request (default 5000). */
  SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
  /** Refresh a grant whose refresh token (60 days) expires within this many days. */
  REFRESH_WINDOW_DAYS: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(59)), 7),
  /** Also refresh grants whose access token (2 h) expires within this many minutes; 0 = off. */
  ACCESS_WARM_WINDOW_MINUTES: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(120)), 0),
  REFRESH_CONCURRENCY: z.pipe(positiveInt(10), z.number().check(z.maximum(50))),
  /**
   * How long a claim holds a grant. Short on purpose (see token-rotation.ts): a crashed holder's grant must be
   * re-claimable while Smartcar still accepts the rotated refresh token (~60 s). At least 20 s, because the
   * exchange has to end PERSIST_RESERVE_MS before the lease and needs time for a retry.
   */
  REFRESH_LEASE_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(20), z.maximum(300)), 60),
  /** The recovery queue: rotated pairs that could not be stored, applied first by the next run. */
  TOKEN_RECOVERY_QUEUE_URL: nonEmpty,
} satisfies ConfigShape<'tokenRefresh'>);

export type RefreshConfig = z.infer<typeof refreshConfigSchema>;

export function loadRefreshConfig(env: NodeJS.ProcessEnv = process.env): RefreshConfig {
  return loadConfig(refreshConfigSchema, env);
}
