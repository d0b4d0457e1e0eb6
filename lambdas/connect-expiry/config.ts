import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { connectionConfigShape } from '../connections/config.js';

/** The connect expiry job (docs/design.md, "Confirmed connect"). */
export const expiryConfigSchema = z.object({
  ...connectionConfigShape,
  /** Decrypt only: the access token of a pending connect whose vehicles the callback could not learn. */
  TOKEN_KEY_ID: nonEmpty,
} satisfies ConfigShape<'connectExpiry'>);

export type ExpiryConfig = z.infer<typeof expiryConfigSchema>;

export function loadExpiryConfig(env: NodeJS.ProcessEnv = process.env): ExpiryConfig {
  return loadConfig(expiryConfigSchema, env);
}
