import * as z from 'zod/mini';
import { isRedirectUrl, SMARTCAR_MODES } from '../../contracts/index.js';
import { checkScopes, splitScopeList } from './scopes.js';

/**
 * zod/mini pieces shared by the OAuth Lambdas' configurations (docs/design.md, "Lambda environment (new)").
 * Everything is checked once at cold start; an error names the variable, never its value.
 */

/** `true`/`false` (any case); anything else is a configuration error rather than a silent default. */
export const booleanFlag = (fallback: boolean) =>
  z.pipe(
    z.optional(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['true', 'false']))),
    z.transform((value: 'true' | 'false' | undefined) => (value === undefined ? fallback : value === 'true')),
  );

/** An absolute http(s) URL without credentials or a fragment (both would leak or be dropped on a redirect). */
export const absoluteUrl = z.string().check(
  z.trim(),
  z.minLength(1),
  z.refine(
    (value: string) => isRedirectUrl(value, ['https:', 'http:']),
    'must be an absolute http(s) URL without credentials or fragment',
  ),
);

export const smartcarMode = z._default(z.enum(SMARTCAR_MODES), 'live');

/**
 * SMARTCAR_DEFAULT_SCOPES: comma-separated permissions, each known (see scopes.ts). Empty or unset means "send no
 * `scope`": Connect then asks for the permissions configured under Vehicle Access in the Smartcar Dashboard.
 */
export const defaultScopes = z.pipe(
  z.optional(z.string()),
  z.transform((value: string | undefined, ctx) => {
    const scopes = splitScopeList(value ?? '');
    const checked = checkScopes(scopes);
    if (!checked.ok) {
      // zod/mini's transform context has no addIssue: the issue goes into the payload's list directly.
      ctx.issues.push({
        code: 'custom',
        message: `unknown permissions: ${checked.unknown.join(', ')}`,
        input: value,
      });
      return z.NEVER;
    }
    return checked.scopes;
  }),
);

/** Per-request timeout for Smartcar calls (the SDK's own default is 310 s, far beyond any Lambda timeout). */
export const smartcarTimeoutMs = z._default(
  z.coerce.number().check(z.int(), z.minimum(100), z.maximum(60_000)),
  5_000,
);

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
