import { Worker } from 'node:worker_threads';

/**
 * Starts a TypeScript module of this repository in a worker thread. Local mode runs under tsx (and the
 * tests under vitest), whose module hooks do not reach a worker's entry on Node 20, so the thread registers
 * tsx's hooks itself before importing `entry`.
 */
export function startModuleThread(entry: URL, workerData: unknown): Worker {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const source =
    `import(${JSON.stringify(tsxApi)})` +
    `.then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(source, { eval: true, workerData });
}

/** An error as it crosses a thread boundary (structured clone keeps no class, and an Error's cause may not clone). */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  return error instanceof Error
    ? { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) }
    : { name: 'Error', message: String(error) };
}

export function deserializeError(error: SerializedError): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}
