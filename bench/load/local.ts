import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../../local/config.js';
import { startLocalStack, type RunningLocalStack } from '../../local/stack.js';
import { localSqsClient } from '../../local/stand-ins/sqs.js';
import type { LocalFunctions } from '../../local/runtime/functions.js';
import { freePort } from '../../test/support/ports.js';

/** The local stack (`npm start`'s), in this process, on free loopback ports and a throw-away data directory. */

export const LOAD_MANAGEMENT_TOKEN = 'bench-load-amt';

export interface LoadStack {
  readonly stack: RunningLocalStack;
  readonly ports: { readonly dynamoDb: number; readonly sqs: number; readonly kms: number };
  readonly sqs: ReturnType<typeof localSqsClient>;
  stop(): Promise<void>;
}

export async function startLoadStack(
  env: Record<string, string> = {},
  functions?: (ports: LoadStack['ports']) => LocalFunctions,
): Promise<LoadStack> {
  const [port, dynamoDb, sqsPort, secrets, kms, smartcar] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  const ports = { dynamoDb: dynamoDb ?? 0, sqs: sqsPort ?? 0, kms: kms ?? 0 };
  const dataDir = mkdtempSync(join(tmpdir(), 'smartcar-load-'));
  const config = loadLocalConfig({
    PORT: String(port),
    LOCAL_DYNAMODB_PORT: String(dynamoDb),
    LOCAL_SQS_PORT: String(sqsPort),
    LOCAL_SECRETS_PORT: String(secrets),
    LOCAL_KMS_PORT: String(kms),
    LOCAL_FAKE_SMARTCAR_PORT: String(smartcar),
    LOCAL_DATA_DIR: dataDir,
    SMARTCAR_MANAGEMENT_TOKEN: LOAD_MANAGEMENT_TOKEN,
    LOCAL_FAKE_SMARTCAR: 'false',
    LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES: '0',
    // A poison message reaches the DLQ after 3 receives 5 s apart instead of 5 × 30 s: the drain stays short.
    LOCAL_VISIBILITY_TIMEOUT_SECONDS: '5',
    LOCAL_MAX_RECEIVE_COUNT: '3',
    ...env,
  });
  const stack = await startLocalStack(config, functions?.(ports), () => undefined);
  const sqs = localSqsClient(stack.sqsEndpoint, config.region);
  return {
    stack,
    ports,
    sqs,
    async stop() {
      sqs.destroy();
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
