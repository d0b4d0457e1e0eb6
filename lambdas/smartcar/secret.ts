import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
// zod/mini: the same validation as zod's classic API at a fraction of the bundle (every function reads this).
import * as z from 'zod/mini';
import { METRICS } from '../../contracts/metrics.js';
import { SECRET_PLACEHOLDER } from './secret-placeholder.js';

export { SECRET_PLACEHOLDER };

/** The Smartcar application's credentials, kept in one Secrets Manager secret (see docs/design.md). */
export const smartcarSecretSchema = z.object({
  clientId: z.string().check(z.minLength(1)),
  clientSecret: z.string().check(z.minLength(1)),
  /** Application Management Token (AMT): the HMAC key of webhook signatures and VERIFY challenges. */
  managementToken: z.string().check(z.minLength(1)),
  /** The AMT before a rotation; accepted for signatures so no delivery is lost while Smartcar switches over. */
  previousManagementToken: z.optional(z.string().check(z.minLength(1))),
});

export type SmartcarSecret = z.infer<typeof smartcarSecretSchema>;

/** How long a fetched secret is reused before it is read again (picks up an AMT rotation without a deploy). */
export const SECRET_CACHE_SECONDS = 300;

/**
 * The secret still holds the stack's public placeholder (or a field is the placeholder): nothing may be signed
 * or sent to Smartcar with it. Callers answer 503 and count `SmartcarSecretNotConfigured`.
 */
export class SecretNotConfiguredError extends Error {
  override readonly name = 'SecretNotConfiguredError';
  constructor(
    secretId: string,
    /** Names of the fields that still hold the placeholder (never values). */
    readonly fields: readonly string[],
  ) {
    super(`Smartcar secret ${secretId} still holds the placeholder in: ${fields.join(', ')}`);
  }
}

/** Metric every Lambda that reads the secret counts when it refuses the placeholder (the alarm watches it). */
export const SECRET_NOT_CONFIGURED_METRIC = METRICS.secretNotConfigured;

/** The fields of `secret` that still hold the placeholder; empty when it is usable. */
export function placeholderFields(secret: SmartcarSecret): string[] {
  return Object.entries(secret)
    .filter(([, value]) => value === SECRET_PLACEHOLDER)
    .map(([field]) => field);
}

export interface SmartcarSecretSource {
  get(): Promise<SmartcarSecret>;
  /**
   * Reads the secret again, bypassing the cache, unless that was done less than SECRET_REFRESH_MIN_SECONDS ago
   * (then the cached value). The receiver calls it when a signature does not match, so a rotated AMT is
   * accepted on its first delivery instead of up to 5 minutes later. Sources that cannot refresh omit it.
   */
  refresh?(): Promise<SmartcarSecret>;
}

/**
 * Shortest time between two forced reads of the secret in one container: whoever sends badly signed requests
 * causes at most one Secrets Manager call per container and this period.
 */
export const SECRET_REFRESH_MIN_SECONDS = 30;

/**
 * Reads the Smartcar secret through Powertools Parameters, which caches it per container for
 * SECRET_CACHE_SECONDS: one Secrets Manager call per container and cache period, not per request. It is
 * validated once per fetch: while the provider hands back the same cached value, so do we (the receiver calls
 * this on every request). Throws SecretNotConfiguredError while any field holds the stack's placeholder.
 */
export function smartcarSecretSource(secretId: string, client: SecretsManagerClient): SmartcarSecretSource {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  let lastForcedAt = 0;
  let validated: { readonly raw: unknown; readonly secret: SmartcarSecret } | undefined;
  async function read(forceFetch: boolean): Promise<SmartcarSecret> {
    const raw = await provider.get(secretId, { maxAge: SECRET_CACHE_SECONDS, transform: 'json', forceFetch });
    if (validated !== undefined && validated.raw === raw) return validated.secret;
    const parsed = z.safeParse(smartcarSecretSchema, raw);
    if (!parsed.success) {
      // Name the fields that are wrong, never their values.
      const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
      throw new Error(`Smartcar secret ${secretId} is malformed (fields: ${fields})`);
    }
    // Fail closed: the placeholder is public, signing or authenticating with it would let anyone in.
    const unset = placeholderFields(parsed.data);
    if (unset.length > 0) throw new SecretNotConfiguredError(secretId, unset);
    validated = { raw, secret: parsed.data };
    return parsed.data;
  }
  return {
    get: () => read(false),
    refresh(now: number = Date.now()) {
      const force = now - lastForcedAt >= SECRET_REFRESH_MIN_SECONDS * 1000;
      if (force) lastForcedAt = now;
      return read(force);
    },
  };
}
