import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';

/** The read Lambda's environment (docs/design.md, "Runtime configuration"). */
export const readConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
} satisfies ConfigShape<'vehicleRead'>);

export type ReadConfig = z.infer<typeof readConfigSchema>;

export function loadReadConfig(env: NodeJS.ProcessEnv = process.env): ReadConfig {
  return loadConfig(readConfigSchema, env);
}
