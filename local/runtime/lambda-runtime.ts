import { randomUUID } from 'node:crypto';
import type { Context, Handler } from 'aws-lambda';

/**
 * The bits of the Lambda runtime that local mode needs: a context object shaped like the real one and an
 * invoker that treats a handler the way the runtime does (promise or callback, timeout = failed invocation).
 */

export interface LocalFunction {
  /** Name as it appears in logs and `context.functionName`. */
  readonly functionName: string;
  readonly timeoutMs: number;
  readonly region: string;
  readonly memoryLimitInMB?: number;
}

const ACCOUNT_ID = '000000000000';

export class LambdaTimeoutError extends Error {
  constructor(seconds: number) {
    // The runtime's own wording, so a local log reads like CloudWatch.
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    this.name = 'LambdaTimeoutError';
  }
}

export function lambdaContext(
  fn: LocalFunction,
  deadline: number,
  settle: (error: unknown, result?: unknown) => void = () => undefined,
): Context {
  const awsRequestId = randomUUID();
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${fn.region}:${ACCOUNT_ID}:function:${fn.functionName}`,
    memoryLimitInMB: String(fn.memoryLimitInMB ?? 512),
    awsRequestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${day}/[$LATEST]${awsRequestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    // Deprecated callback-era API, still part of the Context type; mapped onto the same settlement.
    done: (error, result) => settle(error ?? undefined, result),
    fail: (error) => settle(typeof error === 'string' ? new Error(error) : error),
    succeed: (result: unknown) => settle(undefined, result),
  };
}

/**
 * Invokes a handler like the Lambda runtime: the first of returned promise / callback / context.done wins;
 * a throw or rejection is an error; running past the timeout is an error too (the handler keeps running in
 * the background, unlike in Lambda where the sandbox is frozen, so a late side effect can still happen).
 */
export async function invokeHandler<TEvent, TResult>(
  handler: Handler<TEvent, TResult>,
  event: TEvent,
  fn: LocalFunction,
): Promise<TResult> {
  const deadline = Date.now() + fn.timeoutMs;
  return new Promise<TResult>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => settle(new LambdaTimeoutError(fn.timeoutMs / 1000)), fn.timeoutMs);
    function settle(error: unknown, result?: unknown): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined && error !== null)
        reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(result as TResult);
    }
    const context = lambdaContext(fn, deadline, settle);
    try {
      const returned = handler(event, context, (error, result) => settle(error ?? undefined, result));
      if (isPromiseLike(returned)) {
        returned.then(
          (result) => settle(undefined, result),
          (error: unknown) => settle(error ?? new Error('handler rejected')),
        );
      }
    } catch (error) {
      settle(error ?? new Error('handler threw'));
    }
  });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    'then' in value &&
    typeof (value as { then: unknown }).then === 'function'
  );
}
