import { z } from 'zod';
import { loadConfig, type ConfigShape } from '../runtime/config.js';
import { connectionConfigShape } from '../connections/config.js';

/** The connect expiry job (docs/design.md, "Confirmed connect"). */
export const expiryConfigSchema = z.object(connectionConfigShape satisfies ConfigShape<'connectExpiry'>);

export type ExpiryConfig = z.infer<typeof expiryConfigSchema>;

export function loadExpiryConfig(env: NodeJS.ProcessEnv = process.env): ExpiryConfig {
  return loadConfig(expiryConfigSchema, env);
}
