import * as z from 'zod/mini';
import { loadConfig, type ConfigShape } from '../runtime/config.js';
import { connectionConfigShape } from '../connections/config.js';

/** DELETE /vehicles/{vehicleId} and DELETE /users/{userId} (docs/design.md, "Lambda environment (new)"). */
export const disconnectConfigSchema = z.object(
  connectionConfigShape satisfies ConfigShape<'vehicleDisconnect'>,
);

export type DisconnectConfig = z.infer<typeof disconnectConfigSchema>;

export function loadDisconnectConfig(env: NodeJS.ProcessEnv = process.env): DisconnectConfig {
  return loadConfig(disconnectConfigSchema, env);
}
