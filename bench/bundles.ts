import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type BuildOptions } from 'esbuild';
import { FUNCTION_IDS, FUNCTIONS } from '../contracts/index.js';
import { BUNDLE_ALIASES, ESM_REQUIRE_BANNER } from '../lib/bundling.js';
import { loadLocalConfig } from '../local/config.js';
import {
  commonEnvironment,
  functionEnvironment,
  lambdaEnvironment,
  NO_LOCAL_ENDPOINT,
} from '../local/runtime/lambda-env.js';
import { check, interleave, median, type Check } from './stats.js';

/**
 * Bundle size and import time of every Lambda, bundled like the stack bundles them (lib/constructs/node-lambda.ts:
 * ESM, minified, the createRequire banner and the aliases of lib/bundling.ts, the AWS SDK inside, a line-only
 * source map), against a bundle that only builds an `SQSClient` — the least any of these functions loads. Import
 * time is measured in a fresh process each time, with `--enable-source-maps` as the stack sets it, interleaved
 * with the baseline.
 */

const run = promisify(execFile);
const REPO_ROOT = resolve(import.meta.dirname, '..');
export const OUT_DIR = join(REPO_ROOT, 'bench', '.out', 'bundles');

/**
 * Placeholder environment, pointing nowhere real: local mode's environment (local/runtime/lambda-env.ts, which
 * has a value for every variable contracts/functions.ts declares) with every AWS endpoint a closed loopback port.
 * Each function gets exactly its contract's variables, as in AWS: a variable added to a contract is there
 * without editing this file, and one local mode cannot fill fails the bench loudly.
 */
const PLACEHOLDER_ENV = lambdaEnvironment(
  loadLocalConfig({}, REPO_ROOT),
  {
    dynamoDbEndpoint: NO_LOCAL_ENDPOINT,
    sqsEndpoint: NO_LOCAL_ENDPOINT,
    secretsManagerEndpoint: NO_LOCAL_ENDPOINT,
    kmsEndpoint: NO_LOCAL_ENDPOINT,
    queueUrl: `${NO_LOCAL_ENDPOINT}/000000000000/bench-webhooks`,
    subscriptionQueueUrl: `${NO_LOCAL_ENDPOINT}/000000000000/bench-subscriptions`,
    recoveryQueueUrl: `${NO_LOCAL_ENDPOINT}/000000000000/bench-token-recovery`,
    secretId: 'bench-secret',
    vehicleTableName: 'bench-vehicles',
    oauthStateTableName: 'bench-oauth-states',
    tokenTableName: 'bench-tokens',
    commandAuditTableName: 'bench-command-audit',
    tokenKeyId: 'arn:aws:kms:us-east-1:000000000000:key/bench',
  },
  {},
);

/** The environment of `serviceName`'s cold start (the baseline, no function, gets only the common part). */
function coldStartEnv(serviceName: string | undefined): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ...commonEnvironment(PLACEHOLDER_ENV),
    ...(serviceName !== undefined && functionEnvironment(serviceName, PLACEHOLDER_ENV)),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

const BASELINE_SOURCE = `import { SQSClient } from '@aws-sdk/client-sqs';
const client = new SQSClient({});
export const handler = async () => client.config.serviceId;
`;

export interface BundleFigures {
  readonly name: string;
  readonly bytes: number;
  readonly mapBytes: number;
  readonly importMs: number;
  /** The baseline's median over the same interleaved rounds. */
  readonly baselineImportMs: number;
  readonly sizeRatio: number;
  readonly importRatio: number;
}

export interface BundlesFigures {
  readonly baseline: { readonly bytes: number; readonly importMs: number };
  readonly bundles: BundleFigures[];
  readonly checks: Check[];
}

/** Every function the stack deploys (contracts/functions.ts), by its service name. */
export function lambdaEntries(): { name: string; entry: string }[] {
  return FUNCTION_IDS.map((id) => ({
    name: FUNCTIONS[id].serviceName,
    entry: join(REPO_ROOT, FUNCTIONS[id].entry),
  })).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The esbuild options the stack's NodejsFunction bundling (lib/constructs/node-lambda.ts) amounts to; a change
 * to one must be made to the other. test/unit/bundle-contents.test.ts bundles with these too.
 */
export const STACK_BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
  alias: BUNDLE_ALIASES,
  // NodejsFunction runs esbuild in the project root; the aliases are resolved from there.
  absWorkingDir: REPO_ROOT,
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'silent',
} as const satisfies BuildOptions;

async function bundle(name: string, entry: string): Promise<string> {
  const outfile = join(OUT_DIR, `${name}.mjs`);
  await build({ ...STACK_BUNDLE_OPTIONS, entryPoints: [entry], outfile });
  return outfile;
}

/** Milliseconds from just before `import()` to its settling, in a fresh Node process. */
async function importMs(file: string, serviceName?: string): Promise<number> {
  const script =
    `const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)});` +
    'process.stdout.write(String(performance.now() - t0));';
  const { stdout } = await run(
    process.execPath,
    ['--enable-source-maps', '--input-type=module', '-e', script],
    { env: coldStartEnv(serviceName), cwd: OUT_DIR },
  );
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`import of ${file} printed ${stdout}`);
  return ms;
}

/** The thrown error's own line from a child's stderr (a minified bundle's source line is useless). */
function errorLine(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr ?? String(error);
  const line = stderr.split('\n').find((text) => /^\w*Error:/.test(text.trim()));
  return (line ?? stderr).trim().slice(0, 300);
}

const sizeOf = (file: string): number => statSync(file).size;
const BASELINE = 'sqs-client-only';

export async function benchBundles(options: { repetitions: number }): Promise<BundlesFigures> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const baselineEntry = join(OUT_DIR, `${BASELINE}.ts`);
  writeFileSync(baselineEntry, BASELINE_SOURCE);
  const baselineFile = await bundle(BASELINE, baselineEntry);
  const checks: Check[] = [];
  const files: Record<string, string> = {};
  const sizes: Record<string, { bytes: number; mapBytes: number }> = {
    [BASELINE]: { bytes: sizeOf(baselineFile), mapBytes: sizeOf(`${baselineFile}.map`) },
  };
  for (const { name, entry } of lambdaEntries()) {
    try {
      const file = await bundle(name, entry);
      await importMs(file, name);
      files[name] = file;
      sizes[name] = { bytes: sizeOf(file), mapBytes: sizeOf(`${file}.map`) };
      checks.push(check(`${name} bundle imports in a fresh process`, true));
    } catch (error) {
      checks.push(check(`${name} bundles and imports in a fresh process`, false, errorLine(error)));
    }
  }
  // One round = the baseline and every bundle once, in rotating order: all share the same machine drift.
  const variants: Record<string, () => Promise<number>> = { [BASELINE]: () => importMs(baselineFile) };
  for (const [name, file] of Object.entries(files)) variants[name] = () => importMs(file, name);
  let runs: Record<string, number[]>;
  try {
    runs = await interleave(variants, options.repetitions);
  } finally {
    // A temporary directory: nothing of it may stay where the type checker and the linters look.
    rmSync(OUT_DIR, { recursive: true, force: true });
  }
  const baselineMedian = median(runs[BASELINE] ?? []);
  const bundles: BundleFigures[] = Object.keys(files).map((name) => {
    const importMedian = median(runs[name] ?? []);
    return {
      name,
      bytes: sizes[name]?.bytes ?? NaN,
      mapBytes: sizes[name]?.mapBytes ?? NaN,
      importMs: importMedian,
      baselineImportMs: baselineMedian,
      sizeRatio: (sizes[name]?.bytes ?? NaN) / (sizes[BASELINE]?.bytes ?? NaN),
      importRatio: importMedian / baselineMedian,
    };
  });
  return {
    baseline: { bytes: sizes[BASELINE]?.bytes ?? NaN, importMs: baselineMedian },
    bundles,
    checks,
  };
}
