import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll } from 'vitest';
import { localSqsClient, startSqsEmulator, type SqsEmulator } from '../../local/stand-ins/sqs.js';
import { freePort } from './ports.js';

/** Local mode's SQS emulator, with a client on it. */
export interface TestSqs {
  readonly endpoint: string;
  readonly port: number;
  /** In us-east-1, as local mode's. */
  readonly client: SQSClient;
}

/**
 * One SQS emulator for the whole test file, on a free loopback port: started before its tests, stopped (and the
 * client destroyed) after them. Its fields can be read in hooks and tests, not at module scope.
 */
export function useSqsEmulator(): TestSqs {
  let started: { readonly emulator: SqsEmulator; readonly client: SQSClient } | undefined;
  beforeAll(async () => {
    const emulator = await startSqsEmulator({ port: await freePort() });
    started = { emulator, client: localSqsClient(emulator.endpoint, 'us-east-1') };
  });
  afterAll(async () => {
    started?.client.destroy();
    await started?.emulator.stop();
  });
  const get = () => {
    if (started === undefined)
      throw new Error('the SQS emulator is started in beforeAll: read it in a hook or a test');
    return started;
  };
  return {
    get endpoint() {
      return get().emulator.endpoint;
    },
    get port() {
      return get().emulator.port;
    },
    get client() {
      return get().client;
    },
  };
}
