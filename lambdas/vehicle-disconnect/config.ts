import { z } from 'zod';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { absoluteUrl, smartcarTimeoutMs } from '../oauth/oauth-config.js';
import { DEFAULT_MANAGEMENT_ORIGIN } from '../smartcar/gateway.js';

/** DELETE /vehicles/{vehicleId} (docs/design.md, "Lambda environment (new)"). */
export const disconnectConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
  TOKEN_TABLE_NAME: nonEmpty,
  SMARTCAR_SECRET_ID: nonEmpty,
  SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
  /** The same variable the smartcar SDK reads; set only locally and in tests (the fake). */
  SMARTCAR_MANAGEMENT_API_ORIGIN: absoluteUrl.default(DEFAULT_MANAGEMENT_ORIGIN),
} satisfies ConfigShape<'vehicleDisconnect'>);

export type DisconnectConfig = z.infer<typeof disconnectConfigSchema>;

export function loadDisconnectConfig(env: NodeJS.ProcessEnv = process.env): DisconnectConfig {
  return loadConfig(disconnectConfigSchema, env);
}
