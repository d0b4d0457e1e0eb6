import type { Worker } from 'node:worker_threads';
import { atMost } from '../startup.js';
import { deserializeError, startModuleThread, type SerializedError } from '../worker-thread.js';
import type { SqsPoller, SqsPollerOptions } from './sqs-poller.js';

/**
 * A queue function and its event source mapping in a worker thread of their own: the local counterpart of
 * Lambda running the function on its own compute. In one event loop the processor's batches (SDK calls,
 * parsing, merging) would take turns with the gateway, the receiver and the SQS emulator; in a thread of
 * its own it uses the machine's other core, and the gateway is not starved while a queue drains.
 *
 * The thread imports `handlerModule` itself (the same handler module as in AWS, read at its cold start
 * with the environment this process has when the thread starts) and runs the same poller as in-process
 * (./sqs-poller.ts) with its own SQS client. A thread that dies (an uncaught error in the handler's
 * background work) is replaced, as Lambda replaces a crashed sandbox; what it had received becomes visible
 * again after the visibility timeout.
 */

/** The in-process poller's options, with the handler's module and the emulator's endpoint instead of objects. */
export interface SqsPollerThreadOptions extends Omit<SqsPollerOptions, 'client' | 'handler'> {
  /** File URL of the module exporting the function's `handler`. */
  readonly handlerModule: string;
  readonly sqsEndpoint: string;
}

/** What the thread receives as `workerData`: the options without the log callback (it posts its lines). */
export type SqsPollerThreadData = Omit<SqsPollerThreadOptions, 'log'>;

/** Messages from the thread. */
export type SqsPollerThreadMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'cold-start-failed'; readonly error: SerializedError }
  | { readonly kind: 'log'; readonly message: string; readonly error?: SerializedError }
  | { readonly kind: 'stopped' };

const ENTRY = new URL('./sqs-poller-worker.ts', import.meta.url);
const RESTART_DELAY_MS = 1_000;
/** How long a stop waits for the batches in progress before it ends the thread anyway. */
const STOP_GRACE_MS = 4_000;

/** Starts the thread and resolves once the handler's cold start is done; rejects when it failed. */
export async function startSqsPollerThread(options: SqsPollerThreadOptions): Promise<SqsPoller> {
  const log = options.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''));
  const { log: _log, ...workerData } = options;
  const name = options.function.functionName;
  let stopping = false;
  let stopped: (() => void) | undefined;

  /** One thread; `settle` hears once whether its cold start worked (undefined) or not (the error). */
  const spawn = (settle: (error?: Error) => void): Worker => {
    const worker = startModuleThread(ENTRY, workerData satisfies SqsPollerThreadData);
    let ready = false;
    worker.on('message', (message: SqsPollerThreadMessage) => {
      if (message.kind === 'ready') {
        ready = true;
        settle();
      } else if (message.kind === 'cold-start-failed') settle(deserializeError(message.error));
      else if (message.kind === 'log')
        log(message.message, message.error ? deserializeError(message.error) : undefined);
      else stopped?.();
    });
    worker.on('error', (error) => {
      if (ready) log(`[sqs-poller] ${name}: its thread failed`, error);
      settle(error);
    });
    worker.on('exit', (code) => {
      stopped?.();
      if (!ready) settle(new Error(`${name}: its thread exited (${code}) during the cold start`));
      if (stopping || !ready) return;
      log(`[sqs-poller] ${name}: replacing its thread in ${RESTART_DELAY_MS} ms`);
      setTimeout(() => {
        if (!stopping) current = spawn(() => undefined);
      }, RESTART_DELAY_MS).unref();
    });
    return worker;
  };

  let current: Worker | undefined;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    current = spawn((error) => {
      if (settled) return;
      settled = true;
      if (error === undefined) return resolve();
      reject(error);
      void current?.terminate();
    });
  });

  return {
    /** Lets the thread finish the batches in progress, then ends it (stack.ts bounds the wait too). */
    async stop() {
      stopping = true;
      const worker = current;
      if (worker === undefined) return;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      worker.postMessage({ kind: 'stop' });
      await atMost(done, STOP_GRACE_MS);
      await worker.terminate();
    },
  };
}
