import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../worker-thread.js';
import { serveSqsEmulator, type SqsEmulatorOptions, type SqsEmulatorThreadMessage } from './sqs.js';

/** The worker thread of `startSqsEmulator` (./sqs.ts): serves the emulator until the parent asks it to stop. */

const port = parentPort;
if (port === null) throw new Error('sqs-emulator-thread.ts runs only as a worker thread');
const post = (message: SqsEmulatorThreadMessage) => port.postMessage(message);

try {
  const emulator = await serveSqsEmulator(workerData as SqsEmulatorOptions);
  port.on('message', (message: { kind?: string }) => {
    if (message.kind !== 'stop') return;
    void emulator.stop().finally(() => post({ kind: 'stopped' }));
  });
  post({ kind: 'listening', port: emulator.port });
} catch (error) {
  post({ kind: 'failed', error: serializeError(error) });
}
