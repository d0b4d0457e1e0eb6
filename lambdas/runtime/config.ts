import { z } from 'zod';
import type { ConfigVariablesOf, FunctionId } from '../../contracts/index.js';

/**
 * Reads and validates a Lambda's configuration from the environment once, at cold start.
 * A missing or malformed value throws with the variable's name (never its value), so a bad
 * deployment fails loudly on its first invocation instead of misbehaving quietly.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return result.data;
}

/** A positive integer read from an environment string, with a default. */
export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const nonEmpty = z.string().trim().min(1);

/**
 * The shape of function `F`'s config schema: exactly the variables contracts/functions.ts declares for it
 * (`z.object({...} satisfies ConfigShape<'receiver'>)` fails to compile on a missing or an extra one).
 */
export type ConfigShape<F extends FunctionId> = Record<ConfigVariablesOf<F>, z.ZodType>;
