import { LAMBDA_ENTRIES, type LambdaEntries } from '../../lib/entries.js';

/**
 * Every handler entry pointed at one existing file. With bundling skipped (`aws:cdk:bundling-stacks: []`)
 * esbuild never runs and NodejsFunction only checks that the entry exists, so the infra tests do not depend
 * on the Lambda code (or on it existing yet).
 */
export function standInEntries(file: string): LambdaEntries {
  const keys = Object.keys(LAMBDA_ENTRIES) as (keyof LambdaEntries)[];
  return Object.fromEntries(keys.map((key) => [key, file])) as Record<keyof LambdaEntries, string>;
}
