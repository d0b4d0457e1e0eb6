import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import {
  absoluteUrl,
  booleanFlag,
  defaultScopes,
  requireHttps,
  smartcarMode,
} from '../oauth/oauth-config.js';

/** POST /connect (docs/design.md, "Lambda environment (new)"). */
export const connectConfigSchema = z
  .object({
    OAUTH_STATE_TABLE_NAME: nonEmpty,
    SMARTCAR_SECRET_ID: nonEmpty,
    SMARTCAR_REDIRECT_URI: absoluteUrl,
    SMARTCAR_MODE: smartcarMode,
    SMARTCAR_DEFAULT_SCOPES: defaultScopes,
    REQUIRE_HTTPS_URLS: booleanFlag(true),
  } satisfies ConfigShape<'oauthConnect'>)
  .check(z.superRefine(requireHttps('SMARTCAR_REDIRECT_URI')));

export type ConnectConfig = z.infer<typeof connectConfigSchema>;

export function loadConnectConfig(env: NodeJS.ProcessEnv = process.env): ConnectConfig {
  return loadConfig(connectConfigSchema, env);
}
