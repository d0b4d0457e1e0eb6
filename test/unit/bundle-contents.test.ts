import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaEntries, OUT_DIR, STACK_BUNDLE_OPTIONS } from '../../bench/bundles.js';

/**
 * What the deployed bundles contain, from esbuild's metafile of every handler bundled as the stack bundles it
 * (one build for all of them, nothing written): a dependency that puts hundreds of KB into each cold start
 * must not creep back in through one import.
 */

const functions = lambdaEntries();
let metafile: Metafile;

beforeAll(async () => {
  const result = await build({
    ...STACK_BUNDLE_OPTIONS,
    entryPoints: Object.fromEntries(functions.map(({ name, entry }) => [name, entry])),
    outdir: OUT_DIR,
    write: false,
    metafile: true,
    // Only the module graph is looked at.
    minify: false,
    sourcemap: false,
  });
  metafile = result.metafile;
});

/** The inputs of one function's bundle that put code into it (a bare re-export module puts none). */
function inputsOf(name: string): string[] {
  // Outputs are keyed `<outdir>/<entry point name>.js`.
  const output = Object.entries(metafile.outputs).find(([file]) => file.endsWith(`/${name}.js`))?.[1];
  if (output === undefined) throw new Error(`no bundle for ${name}`);
  return Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path);
}

/** The project's own modules (not node_modules) that import a module matching `forbidden`: the culprits. */
function importersOf(forbidden: RegExp): string[] {
  return Object.entries(metafile.inputs)
    .filter(([path]) => !path.includes('node_modules/'))
    .filter(([, input]) => input.imports.some((imported) => forbidden.test(imported.path)))
    .map(([path]) => path);
}

/** `from 'zod'` (zod/index.js, zod/v4/index.js) or any module of the classic API. */
const ZOD_CLASSIC = /node_modules\/zod\/(index\.js|v4\/index\.js|v4\/classic\/)/;

it("no module of the project imports zod's classic API (~450 KB of each bundle): zod/mini instead", () => {
  expect(importersOf(ZOD_CLASSIC)).toEqual([]);
});

describe.each(functions.map(({ name }) => name))('the %s bundle', (name) => {
  it("holds zod only as zod/mini and its core, never the classic API (~450 KB: `from 'zod'`)", () => {
    expect(inputsOf(name).filter((path) => ZOD_CLASSIC.test(path))).toEqual([]);
  });

  it('holds no locale of zod but the English one', () => {
    const locales = inputsOf(name).filter((path) => /node_modules\/zod\/v4\/locales\/(?!en\.js$)/.test(path));
    expect(locales).toEqual([]);
  });
});
