import { parentPort, workerData } from 'node:worker_threads';
import type { SQSHandler } from 'aws-lambda';
import { localSqsClient } from '../stand-ins/sqs.js';
import { startSqsPoller } from './sqs-poller.js';
import { serializeError } from '../worker-thread.js';
import type { SqsPollerThreadData, SqsPollerThreadMessage } from './sqs-poller-thread.js';

/**
 * The worker thread of ./sqs-poller-thread.ts: the function's cold start (its handler module, imported
 * here), then the same poller local mode runs in-process, until the parent asks it to stop.
 */

const port = parentPort;
if (port === null) throw new Error('sqs-poller-worker.ts runs only as a worker thread');
const options = workerData as SqsPollerThreadData;
const post = (message: SqsPollerThreadMessage) => port.postMessage(message);

let handler: SQSHandler;
try {
  ({ handler } = (await import(options.handlerModule)) as { handler: SQSHandler });
} catch (error) {
  post({ kind: 'cold-start-failed', error: serializeError(error) });
  throw error;
}
const client = localSqsClient(options.sqsEndpoint, options.region);
const poller = startSqsPoller({
  ...options,
  client,
  handler,
  log: (message, error) =>
    post({ kind: 'log', message, ...(error === undefined ? {} : { error: serializeError(error) }) }),
});
port.on('message', (message: { kind?: string }) => {
  if (message.kind !== 'stop') return;
  void poller.stop().then(() => {
    client.destroy();
    post({ kind: 'stopped' });
  });
});
post({ kind: 'ready' });
