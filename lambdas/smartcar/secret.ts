import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';

/** The Smartcar application's credentials, kept in one Secrets Manager secret (see docs/design.md). */
export const smartcarSecretSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  /** Application Management Token (AMT): the HMAC key of webhook signatures and VERIFY challenges. */
  managementToken: z.string().min(1),
  /** The AMT before a rotation; accepted for signatures so no delivery is lost while Smartcar switches over. */
  previousManagementToken: z.string().min(1).optional(),
});

export type SmartcarSecret = z.infer<typeof smartcarSecretSchema>;

/** How long a fetched secret is reused before it is read again (picks up an AMT rotation without a deploy). */
export const SECRET_CACHE_SECONDS = 300;

export interface SmartcarSecretSource {
  get(): Promise<SmartcarSecret>;
}

/**
 * Reads the Smartcar secret through Powertools Parameters, which caches it per container for
 * SECRET_CACHE_SECONDS: one Secrets Manager call per container and cache period, not per request.
 */
export function smartcarSecretSource(secretId: string, client: SecretsManagerClient): SmartcarSecretSource {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  return {
    async get() {
      const raw = await provider.get(secretId, { maxAge: SECRET_CACHE_SECONDS, transform: 'json' });
      const parsed = smartcarSecretSchema.safeParse(raw);
      if (!parsed.success) {
        // Name the fields that are wrong, never their values.
        const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
        throw new Error(`Smartcar secret ${secretId} is malformed (fields: ${fields})`);
      }
      return parsed.data;
    },
  };
}
