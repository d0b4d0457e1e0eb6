// zod/mini (tree-shakable functions, the same core as the classic API): a config loader needs only a few checks,
// and the classic API would put ~450 KB into every bundle that reads its environment.
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import type { ConfigVariablesOf, FunctionId } from '../../contracts/index.js';

// zod/mini ships without messages ("Invalid input" for every failed check); the English ones (~3 KB) name what
// is wrong with a variable ("Too small: expected number to be >=20"), as the classic API does.
z.config(en());

/**
 * Reads and validates a Lambda's configuration from the environment once, at cold start.
 * A missing or malformed value throws with the variable's name (never its value), so a bad
 * deployment fails loudly on its first invocation instead of misbehaving quietly.
 */
export function loadConfig<S extends z.ZodMiniObject | z.core.$ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = z.safeParse(schema, env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return result.data as z.infer<S>;
}

/** A positive integer read from an environment string, with a default. */
export const positiveInt = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

export const nonEmpty = z.string().check(z.trim(), z.minLength(1));

/**
 * The shape of function `F`'s config schema: exactly the variables contracts/functions.ts declares for it
 * (`z.object({...} satisfies ConfigShape<'receiver'>)` fails to compile on a missing or an extra one).
 */
export type ConfigShape<F extends FunctionId> = Record<ConfigVariablesOf<F>, z.core.$ZodType>;
