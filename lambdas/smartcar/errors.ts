import smartcar from 'smartcar';
import { TimeoutError } from '../runtime/deadline.js';

/**
 * The errors of Smartcar calls (gateway.ts) and what they mean for the caller. They carry Smartcar's error
 * fields, never a request (whose headers hold the tokens).
 */

/** Longest `Retry-After` we take at face value; anything above is capped (a run never waits this long anyway). */
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * What a failed refresh-token exchange means for the grant:
 * - `invalid_grant`: Smartcar refused the refresh token (expired, revoked, already rotated): only the vehicle
 *   owner can fix it by going through Connect again.
 * - `client_rejected`: 401 / `invalid_client`: Smartcar refused OUR client credentials. Says nothing about the
 *   grant, and every other exchange would fail the same way: never a reason to ask owners to re-authenticate.
 * - `rate_limited`: 429 / `RATE_LIMIT`; `retryAfterMs` from `Retry-After` when Smartcar sent one.
 * - `transient`: 5xx / `SERVER`, the SDK's or our timeout, a network error: retry (the same refresh token stays
 *   valid for about a minute even if Smartcar did rotate it before the answer got lost).
 * - `rejected`: any other 4xx (a request Smartcar will refuse again, e.g. `invalid_request`): not retried.
 */
export type TokenExchangeFailure =
  'invalid_grant' | 'client_rejected' | 'rate_limited' | 'transient' | 'rejected';

export class TokenExchangeError extends Error {
  override readonly name = 'TokenExchangeError';
  constructor(
    readonly kind: TokenExchangeFailure,
    readonly details: {
      readonly statusCode?: number;
      readonly type?: string;
      readonly code?: string;
      readonly requestId?: string;
      readonly retryAfterMs?: number;
    } = {},
    options?: { cause?: unknown },
  ) {
    const status = [details.statusCode, details.type].filter((part) => part !== undefined).join(' ');
    super(`refresh token exchange failed: ${kind}${status === '' ? '' : ` (${status})`}`, options);
  }
}

/** `Retry-After` as ms: delta-seconds or an HTTP date (RFC 9110); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(ms)));
}

/** Maps whatever the SDK (or our deadline) threw during a refresh-token exchange to a TokenExchangeError. */
export function classifyTokenExchangeError(error: unknown, now: number = Date.now()): TokenExchangeError {
  if (error instanceof TokenExchangeError) return error;
  if (error instanceof smartcar.SmartcarError) {
    const details = {
      statusCode: error.statusCode,
      ...(error.type !== undefined && { type: error.type }),
      ...(error.code !== undefined && { code: error.code }),
      ...(error.requestId !== undefined && { requestId: error.requestId }),
    };
    const status = error.statusCode;
    if (error.type === 'invalid_grant')
      return new TokenExchangeError('invalid_grant', details, { cause: error });
    if (status === 401 || error.type === 'invalid_client' || error.type === 'AUTHENTICATION') {
      return new TokenExchangeError('client_rejected', details, { cause: error });
    }
    if (status === 429 || error.type === 'RATE_LIMIT') {
      const retryAfterMs = parseRetryAfter(error.retryAfter, now);
      return new TokenExchangeError(
        'rate_limited',
        { ...details, ...(retryAfterMs !== undefined && { retryAfterMs }) },
        { cause: error },
      );
    }
    // 408 is the SDK's own timeout; 5xx and SERVER are Smartcar's side.
    if (status >= 500 || status === 408 || error.type === 'SERVER') {
      return new TokenExchangeError('transient', details, { cause: error });
    }
    return new TokenExchangeError('rejected', details, { cause: error });
  }
  // Our deadline (TimeoutError), fetch's network errors (TypeError), anything unexpected: retrying with the same
  // refresh token is always safe within its reuse window, so unknown failures are treated as transient.
  return new TokenExchangeError('transient', {}, { cause: error });
}

export class TooManyVehiclesError extends Error {
  override readonly name = 'TooManyVehiclesError';
  constructor(readonly limit: number) {
    super(`the grant has more than ${limit} vehicles`);
  }
}

/** A non-2xx answer of the Management API (called without the SDK, see deleteConnections). */
export class SmartcarManagementError extends Error {
  override readonly name = 'SmartcarManagementError';
  constructor(
    readonly statusCode: number,
    readonly type: string | undefined,
    readonly code: string | undefined,
    readonly requestId: string | undefined,
  ) {
    super(`Smartcar management API answered ${statusCode}${type ? ` ${type}` : ''}`);
  }
}

/**
 * The fields of a Smartcar (or transport) error that are safe to log: status, type, code, request id. Never
 * the whole error object, whose `cause` chain could reach a request.
 */
export function describeSmartcarError(error: unknown): Record<string, unknown> {
  if (error instanceof smartcar.SmartcarError || error instanceof SmartcarManagementError) {
    const fields = {
      name: error.name,
      statusCode: error.statusCode,
      type: error.type,
      code: error.code,
      requestId: error.requestId,
    };
    return error instanceof SmartcarManagementError
      ? fields
      : { ...fields, resolution: error.resolution?.type ?? undefined };
  }
  if (error instanceof TokenExchangeError) {
    return {
      name: error.name,
      kind: error.kind,
      ...error.details,
      // A timeout or network error carries no Smartcar fields: say which it was.
      ...(error.details.statusCode === undefined &&
        error.cause !== undefined && { cause: describeSmartcarError(error.cause) }),
    };
  }
  if (error instanceof TimeoutError) {
    return { name: error.name, operation: error.operation, timeoutMs: error.timeoutMs };
  }
  if (error instanceof Error) return { name: error.name, message: error.message.slice(0, 200) };
  return { name: typeof error };
}
