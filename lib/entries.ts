import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTION_IDS, FUNCTIONS, type FunctionId } from '../contracts/index.js';

/** Repository root (this file is lib/entries.ts), so paths do not depend on the working directory. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** package-lock.json of the project (pins what esbuild resolves). */
export const DEPS_LOCK_FILE = path.join(REPO_ROOT, 'package-lock.json');

/** Absolute handler file per function. */
export type LambdaEntries = Readonly<Record<FunctionId, string>>;

/** Handler entries, as fixed by docs/design.md (declared in contracts/functions.ts). */
export const LAMBDA_ENTRIES: LambdaEntries = Object.fromEntries(
  FUNCTION_IDS.map((id) => [id, path.join(REPO_ROOT, FUNCTIONS[id].entry)]),
) as Record<FunctionId, string>;
