import { z } from 'zod';
import { loadConfig, nonEmpty } from '../runtime/config.js';

/** The read Lambda's environment (docs/design.md, "Runtime configuration"). */
export const readConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
});

export type ReadConfig = z.infer<typeof readConfigSchema>;

export function loadReadConfig(env: NodeJS.ProcessEnv = process.env): ReadConfig {
  return loadConfig(readConfigSchema, env);
}
