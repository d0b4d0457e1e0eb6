import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, smartcarTimeoutMs } from '../oauth/oauth-config.js';

/** POST/GET /vehicles/{vehicleId}/commands (docs/design.md, "Vehicle commands", "Environment"). */
export const commandConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
  TOKEN_TABLE_NAME: nonEmpty,
  TOKEN_KEY_ID: nonEmpty,
  COMMAND_AUDIT_TABLE_NAME: nonEmpty,
  /** How long audit items are kept (context `commandAuditDays`). */
  COMMAND_AUDIT_DAYS: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(3650)), 90),
  SMARTCAR_SECRET_ID: nonEmpty,
  /** getAccessToken may have to rotate the grant's tokens; the SDK's AuthClient needs a redirect URI. */
  SMARTCAR_REDIRECT_URI: absoluteUrl,
  /** Limit of one token exchange (when the access token must be refreshed first). */
  SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
  /**
   * Limit of the command call itself, further cut to the invocation's end minus a reserve. Commands can take
   * tens of seconds on some brands; the Lambda's timeout (below API Gateway's 30 s) caps it anyway.
   */
  SMARTCAR_COMMAND_TIMEOUT_MS: z._default(
    z.coerce.number().check(z.int(), z.minimum(100), z.maximum(60_000)),
    24_000,
  ),
  /** The refresh job's recovery queue: a rotated pair that could not be stored is parked there. */
  TOKEN_RECOVERY_QUEUE_URL: nonEmpty,
} satisfies ConfigShape<'vehicleCommand'>);

export type CommandConfig = z.infer<typeof commandConfigSchema>;

export function loadCommandConfig(env: NodeJS.ProcessEnv = process.env): CommandConfig {
  return loadConfig(commandConfigSchema, env);
}
