import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../../local/config.js';
import { startLocalStack, type RunningLocalStack } from '../../local/stack.js';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { freePort } from './ports.js';

export interface InProcessLocalStack {
  readonly stack: RunningLocalStack;
  readonly fake: FakeSmartcar;
  /** Stops the stack and removes its throw-away data directory. */
  stop(): Promise<void>;
}

/**
 * The local stack (local/stack.ts, the one `npm start` runs) in this process with the fake Smartcar, on free
 * loopback ports and a throw-away data directory, quiet (ERROR logs, no metrics) and without the periodic token
 * refresh; `env` adds or overrides variables (e.g. SMARTCAR_WEBHOOK_IDS).
 */
export async function startInProcessLocalStack(
  name: string,
  managementToken: string,
  env: Record<string, string> = {},
): Promise<InProcessLocalStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `${name}-`));
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const config = loadLocalConfig({
    PORT: String(ports[0]),
    LOCAL_DYNAMODB_PORT: String(ports[1]),
    LOCAL_SQS_PORT: String(ports[2]),
    LOCAL_SECRETS_PORT: String(ports[3]),
    LOCAL_KMS_PORT: String(ports[4]),
    LOCAL_FAKE_SMARTCAR: 'true',
    LOCAL_FAKE_SMARTCAR_PORT: String(ports[5]),
    LOCAL_DATA_DIR: dataDir,
    SMARTCAR_MANAGEMENT_TOKEN: managementToken,
    LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES: '0',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    ...env,
  });
  const stack = await startLocalStack(config, undefined, () => undefined);
  const stop = async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  if (!stack.fakeSmartcar) {
    await stop();
    throw new Error('the fake Smartcar did not start');
  }
  return { stack, fake: stack.fakeSmartcar, stop };
}
