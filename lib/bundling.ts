/**
 * What the stack's esbuild bundling (lib/constructs/node-lambda.ts) adds beyond NodejsFunction's defaults, as plain
 * data: bench/bundles.ts and test/unit/bundle-contents.test.ts bundle with the same values without loading
 * aws-cdk-lib.
 */

/**
 * ESM bundles cannot `require()`; esbuild's shim throws "Dynamic require of X is not supported" for the
 * CommonJS dependencies that do (the `smartcar` SDK). Giving the module a real `require` fixes that.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** The lodash functions the `smartcar` SDK calls (`_.<name>` in node_modules/smartcar); the subset exports these. */
export const SMARTCAR_LODASH_FUNCTIONS = [
  'camelCase',
  'forEach',
  'mapKeys',
  'merge',
  'omit',
  'pick',
] as const;

/**
 * esbuild aliases, resolved from the repository root (the bundling's working directory). The `smartcar` SDK's
 * `require('lodash')` loads lodash's main module, all of lodash (~72 KB minified in every function that talks
 * to Smartcar); it gets lambdas/smartcar/lodash-subset.ts instead: the same functions of the same lodash,
 * from lodash's per-method modules (~39 KB). An alias also applies to subpaths (`lodash/merge.js` would become
 * `<subset>/merge.js`), so each per-method module the subset imports is aliased to itself.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  lodash: './lambdas/smartcar/lodash-subset.ts',
  ...Object.fromEntries(SMARTCAR_LODASH_FUNCTIONS.map((name) => [`lodash/${name}.js`, `lodash/${name}.js`])),
};
