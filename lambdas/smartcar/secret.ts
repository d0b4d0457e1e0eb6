import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
// zod/mini: the same validation as zod's classic API at a fraction of the bundle (every function reads this).
import * as z from 'zod/mini';

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

export interface SmartcarSecretSource {
  get(): Promise<SmartcarSecret>;
}

/**
 * Reads the Smartcar secret through Powertools Parameters, which caches it per container for
 * SECRET_CACHE_SECONDS: one Secrets Manager call per container and cache period, not per request. It is
 * validated once per fetch: while the provider hands back the same cached value, so do we (the receiver calls
 * this on every request).
 */
export function smartcarSecretSource(secretId: string, client: SecretsManagerClient): SmartcarSecretSource {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  let validated: { readonly raw: unknown; readonly secret: SmartcarSecret } | undefined;
  return {
    async get() {
      const raw = await provider.get(secretId, { maxAge: SECRET_CACHE_SECONDS, transform: 'json' });
      if (validated !== undefined && validated.raw === raw) return validated.secret;
      const parsed = z.safeParse(smartcarSecretSchema, raw);
      if (!parsed.success) {
        // Name the fields that are wrong, never their values.
        const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
        throw new Error(`Smartcar secret ${secretId} is malformed (fields: ${fields})`);
      }
      validated = { raw, secret: parsed.data };
      return parsed.data;
    },
  };
}
