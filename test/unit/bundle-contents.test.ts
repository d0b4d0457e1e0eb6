import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaEntries, OUT_DIR, STACK_BUNDLE_OPTIONS } from '../../bench/bundles.js';
import * as lodashSubset from '../../lambdas/smartcar/lodash-subset.js';
import { SMARTCAR_LODASH_FUNCTIONS } from '../../lib/bundling.js';

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

it("no bundle holds lodash's main module (all of lodash, for the smartcar SDK's six functions)", () => {
  const whole = functions.filter(({ name }) =>
    inputsOf(name).some((path) => /node_modules\/lodash\/lodash\.js$/.test(path)),
  );
  expect(whole.map(({ name }) => name)).toEqual([]);
});

describe('the lodash subset the bundles give the smartcar SDK', () => {
  const sdkRoot = join(import.meta.dirname, '..', '..', 'node_modules', 'smartcar');
  const sdkSources = [
    join(sdkRoot, 'index.js'),
    ...readdirSync(join(sdkRoot, 'lib'))
      .filter((file) => file.endsWith('.js'))
      .map((file) => join(sdkRoot, 'lib', file)),
  ];

  it('holds every lodash function the SDK calls (`_.<name>` in its sources), as a function', () => {
    const called = new Set(
      sdkSources.flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(/\b_\.(\w+)\(/g)].map((match) => match[1]),
      ),
    );
    expect([...called].sort()).toEqual([...SMARTCAR_LODASH_FUNCTIONS].sort());
    for (const name of SMARTCAR_LODASH_FUNCTIONS) expect(typeof lodashSubset[name], name).toBe('function');
  });

  // The SDK's calls that go through lodash, bundled as the stack bundles them, against a loopback Smartcar: the
  // same results as the SDK with the whole lodash (this process, unbundled).
  let server: Server;
  let origin: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(
        `${request.method} ${request.url} ${request.headers['sc-unit-system'] ?? ''} ${request.headers.authorization ?? ''}`,
      );
      const body = request.url?.endsWith('/batch')
        ? {
            responses: [
              {
                path: '/odometer',
                code: 200,
                body: { distance: 12.5 },
                headers: { 'sc-unit-system': 'metric' },
              },
            ],
          }
        : request.url?.startsWith('/v2.0/management/connections')
          ? {
              connections: [{ userId: 'u1', vehicleId: 'v1', connectedAt: '2024-01-01T00:00:00.000Z' }],
              paging: { cursor: null },
            }
          : { status: 'success', message: 'ok', meta: 'stripped by _.omit' };
      response.writeHead(200, {
        'content-type': 'application/json',
        'SC-Request-Id': 'req-1',
        'sc-fetched-at': '2024-01-01T00:00:00.000Z',
      });
      response.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Runs `source` as an ES module in a fresh Node process. */
  function runModule(source: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module'], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', () => resolve({ stdout, stderr }));
      child.stdin.end(source);
    });
  }

  /** An ES module that makes the calls and prints their results as JSON. */
  const SCRIPT = `import smartcar from 'smartcar';
export async function calls() {
  const vehicle = new smartcar.Vehicle('v1', 'access-token', { unitSystem: 'imperial' });
  const lock = await vehicle.lock();
  const request = await vehicle.request('GET', 'attributes', null, { 'X-Extra': 'yes' });
  const batch = await vehicle.batch(['/odometer']);
  const connections = await smartcar.getConnections('amt', { userId: 'u1', ignored: 'x' }, { limit: 5 });
  return JSON.stringify({ lock, request, odometer: batch.odometer(), connections });
}`;

  it('answers the same bundled (vehicle request, command, batch, management call)', async () => {
    const env = { SMARTCAR_API_ORIGIN: origin, SMARTCAR_MANAGEMENT_API_ORIGIN: origin };
    const bundled = await build({
      ...STACK_BUNDLE_OPTIONS,
      stdin: {
        contents: `${SCRIPT}\nprocess.stdout.write(await calls());`,
        resolveDir: join(import.meta.dirname),
        loader: 'js',
      },
      write: false,
      minify: false,
      sourcemap: false,
    });
    // Asynchronously: the loopback Smartcar answers from this process's event loop.
    const child = await runModule(bundled.outputFiles[0]?.text ?? '', {
      PATH: process.env.PATH ?? '',
      ...env,
    });
    expect(child.stderr).toBe('');
    const bundledRequests = requests.splice(0);

    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const unbundled = (await import(
        `data:text/javascript,${encodeURIComponent(SCRIPT.replace("from 'smartcar'", `from ${JSON.stringify(import.meta.resolve('smartcar'))}`))}`
      )) as { calls: () => Promise<string> };
      expect(JSON.parse(child.stdout)).toEqual(JSON.parse(await unbundled.calls()));
    } finally {
      process.env = saved;
    }
    expect(bundledRequests).toEqual(requests);
    expect(bundledRequests).toHaveLength(4);
  });
});
