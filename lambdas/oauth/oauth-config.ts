import { z } from 'zod';
import { isRedirectUrl, SMARTCAR_MODES } from '../../contracts/index.js';
import { checkScopes, splitScopeList } from './scopes.js';

/**
 * zod pieces shared by the OAuth Lambdas' configurations (docs/design.md, "Lambda environment (new)").
 * Everything is checked once at cold start; an error names the variable, never its value.
 */

/** `true`/`false` (any case); anything else is a configuration error rather than a silent default. */
export const booleanFlag = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false']))
    .optional()
    .transform((value) => (value === undefined ? fallback : value === 'true'));

/** An absolute http(s) URL without credentials or a fragment (both would leak or be dropped on a redirect). */
export const absoluteUrl = z
  .string()
  .trim()
  .min(1)
  .refine(
    (value) => isRedirectUrl(value, ['https:', 'http:']),
    'must be an absolute http(s) URL without credentials or fragment',
  );

export const smartcarMode = z.enum(SMARTCAR_MODES).default('live');

/**
 * SMARTCAR_DEFAULT_SCOPES: comma-separated permissions, each known (see scopes.ts). Empty or unset means "send no
 * `scope`": Connect then asks for the permissions configured under Vehicle Access in the Smartcar Dashboard.
 */
export const defaultScopes = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const scopes = splitScopeList(value ?? '');
    const checked = checkScopes(scopes);
    if (!checked.ok) {
      ctx.addIssue({ code: 'custom', message: `unknown permissions: ${checked.unknown.join(', ')}` });
      return z.NEVER;
    }
    return checked.scopes;
  });

/** Per-request timeout for Smartcar calls (the SDK's own default is 310 s, far beyond any Lambda timeout). */
export const smartcarTimeoutMs = z.coerce.number().int().min(100).max(60_000).default(5_000);

/**
 * With REQUIRE_HTTPS_URLS=true (the default; AWS) the named URL variables must be `https:`. Local mode sets it
 * to `false` to use `http://127.0.0.1:…`.
 */
export function requireHttps<T extends { REQUIRE_HTTPS_URLS: boolean }>(
  ...names: (keyof T & string)[]
): (config: T, ctx: z.core.$RefinementCtx<T>) => void {
  return (config, ctx) => {
    if (!config.REQUIRE_HTTPS_URLS) return;
    for (const name of names) {
      const value = config[name];
      if (typeof value === 'string' && URL.canParse(value) && new URL(value).protocol !== 'https:') {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'must be https: when REQUIRE_HTTPS_URLS=true',
        });
      }
    }
  };
}
