import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports.js';

export interface LocalStack {
  readonly baseUrl: string;
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly kmsEndpoint: string;
  /** Where the fake Smartcar listens when `LOCAL_FAKE_SMARTCAR=true` (its port is picked either way). */
  readonly fakeSmartcarUrl: string;
  readonly dataDir: string;
  readonly managementToken: string;
  /** Everything the stack printed so far (stdout + stderr). */
  output(): string;
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const READY = /Local stack ready at (http:\/\/\S+)/;

export interface LocalStackOptions {
  /**
   * Use (and keep) this data directory instead of a throw-away one: a second stack started on it finds the
   * first one's DynamoDB tables and KMS master key (restart tests).
   */
  readonly dataDir?: string;
  readonly args?: readonly string[];
}

/**
 * Starts `local/start.ts` — exactly what `npm start` runs — as a child process on free loopback ports
 * with a throw-away data directory, and waits for its ready line. `env` overrides anything, ports included.
 */
export async function startLocalStack(
  env: Record<string, string> = {},
  options: LocalStackOptions = {},
): Promise<LocalStack> {
  const free = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const ports = {
    PORT: String(free[0]),
    LOCAL_DYNAMODB_PORT: String(free[1]),
    LOCAL_SQS_PORT: String(free[2]),
    LOCAL_SECRETS_PORT: String(free[3]),
    LOCAL_KMS_PORT: String(free[4]),
    LOCAL_FAKE_SMARTCAR_PORT: String(free[5]),
  };
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'smartcar-local-'));
  const managementToken = env.SMARTCAR_MANAGEMENT_TOKEN ?? 'integration-test-amt';
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    ...ports,
    LOCAL_DATA_DIR: dataDir,
    SMARTCAR_MANAGEMENT_TOKEN: managementToken,
    // Off unless asked for: `npm test --fake-smartcar` (or an .npmrc) must not change what a test runs.
    LOCAL_FAKE_SMARTCAR: 'false',
    ...env,
  };
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts', ...(options.args ?? [])],
    { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const baseUrl = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`local stack did not become ready:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = READY.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        done(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`local stack exited with ${code}:\n${output}`));
    });
  });
  return {
    baseUrl,
    sqsEndpoint: `http://127.0.0.1:${childEnv.LOCAL_SQS_PORT}`,
    dynamodbEndpoint: `http://127.0.0.1:${childEnv.LOCAL_DYNAMODB_PORT}`,
    kmsEndpoint: `http://127.0.0.1:${childEnv.LOCAL_KMS_PORT}`,
    fakeSmartcarUrl: `http://127.0.0.1:${childEnv.LOCAL_FAKE_SMARTCAR_PORT}`,
    dataDir,
    managementToken,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((done) => setTimeout(done, 200));
  }
}
