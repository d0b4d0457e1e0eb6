import smartcar from 'smartcar';
import { TimeoutError } from '../runtime/deadline.js';

/**
 * What a command's Smartcar call came to (docs/design.md, "Vehicle commands"): the audit status and the HTTP
 * answer, from Smartcar's error `type`/`code`, or from how the transport failed. Pure: no I/O, no clock.
 *
 * The distinction that matters is whether the request MAY have reached Smartcar. A refused connection or a
 * failed DNS lookup cannot have (FAILED, and a retry is harmless); a timeout, a reset connection or a 5xx may
 * have (UNKNOWN: the car may have been unlocked, and sending it again is what must never happen on its own).
 */

export type AuditStatus = 'PENDING' | 'SENT' | 'CONFIRMED' | 'FAILED' | 'UNKNOWN';

/** Smartcar's `{type, code}` as it gave them, or ours for transport failures (`TIMEOUT`, `NETWORK`). */
export interface CommandError {
  readonly type: string | null;
  readonly code: string | null;
}

/** An HTTP answer, stored with the audit item so that an idempotent replay answers exactly the same. */
export interface StoredAnswer {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface FailedSend {
  readonly status: 'FAILED' | 'UNKNOWN';
  readonly error: CommandError;
  readonly smartcarRequestId?: string;
  readonly answer: StoredAnswer;
  /** True only when the request provably never left this process's host: retrying it is safe. */
  readonly notSent: boolean;
}

/** Connection errors that happen before a single byte of the request is written. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function problemBody(error: string, message: string, extra: Record<string, unknown> = {}) {
  return { error, message, ...extra };
}

const UNAVAILABLE = (message: string): StoredAnswer => ({
  statusCode: 502,
  body: problemBody('smartcar_unavailable', message),
});

/** `Retry-After` passed on as Smartcar sent it, if it is a plain delta-seconds or HTTP-date value. */
function retryAfterHeader(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  return /^[\w ,:+-]{1,64}$/.test(text) ? { 'retry-after': text } : undefined;
}

/** Maps whatever the SDK (or our deadline) threw for a command. */
export function classifySendFailure(error: unknown): FailedSend {
  if (error instanceof smartcar.SmartcarError) {
    const type = error.type ?? null;
    const code = error.code ?? null;
    const detail = { type, code };
    const base = {
      error: detail,
      ...(error.requestId !== undefined && { smartcarRequestId: error.requestId }),
      notSent: false,
    };
    const status = error.statusCode;
    const resolution = error.resolution;
    const resolutionFields =
      resolution?.type || resolution?.url
        ? {
            resolution: {
              type: resolution.type ?? null,
              ...(typeof resolution.url === 'string' && { url: resolution.url }),
            },
          }
        : {};
    const failed = (answer: StoredAnswer): FailedSend => ({ ...base, status: 'FAILED', answer });

    // The SDK's own 408 and every 5xx: the request reached Smartcar, which may have passed it on.
    if (status === 408 || status >= 500 || type === 'SERVER' || type === 'UPSTREAM') {
      if (type === 'COMPATIBILITY' || status === 501) {
        return failed({
          statusCode: 501,
          body: problemBody('not_supported', 'Smartcar does not support this command for this vehicle', {
            code,
          }),
        });
      }
      return {
        ...base,
        status: 'UNKNOWN',
        answer: UNAVAILABLE(
          'Smartcar did not confirm the command; it may or may not have reached the vehicle',
        ),
      };
    }
    if (type === 'VEHICLE_STATE') {
      return failed({
        statusCode: 409,
        body: problemBody('vehicle_state', 'the vehicle cannot carry out the command in its current state', {
          code,
          ...resolutionFields,
        }),
      });
    }
    if (type === 'RATE_LIMIT' || status === 429) {
      const headers = retryAfterHeader(error.retryAfter);
      return failed({
        statusCode: 429,
        ...(headers && { headers }),
        body: problemBody('rate_limited', 'Smartcar rate-limited the command; retry later', { code }),
      });
    }
    if (type === 'BILLING' || status === 430) {
      return failed({
        statusCode: 402,
        body: problemBody('billing', 'the Smartcar plan does not allow this request', { code }),
      });
    }
    if (type === 'PERMISSION') {
      return failed({
        statusCode: 403,
        body: problemBody('permission_missing', 'Smartcar says the grant lacks the permission', { code }),
      });
    }
    if (type === 'AUTHENTICATION') {
      return failed({
        statusCode: 409,
        body: problemBody('vehicle_not_connected', 'Smartcar refused the vehicle’s access token'),
      });
    }
    // Tesla's VIRTUAL_KEY_REQUIRED and every error whose resolution is something the owner has to do.
    if (
      type === 'CONNECTED_SERVICES_ACCOUNT' ||
      resolution?.type === 'ACTION_REQUIRED' ||
      resolution?.type === 'REAUTHENTICATE'
    ) {
      return failed({
        statusCode: 409,
        body: problemBody('owner_action_required', 'the vehicle owner must act before this command works', {
          code,
          ...resolutionFields,
        }),
      });
    }
    return failed({
      statusCode: 502,
      body: problemBody('smartcar_rejected', 'Smartcar refused the command request', { type, code }),
    });
  }

  if (error instanceof TimeoutError) {
    return {
      status: 'UNKNOWN',
      error: { type: 'TIMEOUT', code: null },
      notSent: false,
      answer: UNAVAILABLE(
        'Smartcar did not answer in time; the command may or may not have reached the vehicle',
      ),
    };
  }
  const code = causeCode(error);
  if (code !== undefined && NOT_SENT_CODES.has(code)) {
    return {
      status: 'FAILED',
      error: { type: 'NETWORK', code },
      notSent: true,
      answer: UNAVAILABLE('Smartcar could not be reached; the command was not sent'),
    };
  }
  // A reset or lost connection, or anything unexpected after the request may have left: assume it arrived.
  return {
    status: 'UNKNOWN',
    error: { type: 'NETWORK', code: code ?? null },
    notSent: false,
    answer: UNAVAILABLE(
      'the connection to Smartcar was lost; the command may or may not have reached the vehicle',
    ),
  };
}

/**
 * The status a client sees: a PENDING item whose writer's invocation has ended (it crashed or timed out between
 * the two audit writes) can never become anything else, and nobody knows whether it reached Smartcar: UNKNOWN.
 */
export function effectiveStatus(
  status: AuditStatus,
  pendingUntil: number | undefined,
  now: number,
): AuditStatus {
  if (status !== 'PENDING') return status;
  return pendingUntil !== undefined && now > pendingUntil ? 'UNKNOWN' : 'PENDING';
}

/** What a replay answers for a first attempt whose outcome was never written. */
export const UNKNOWN_OUTCOME_ANSWER: StoredAnswer = UNAVAILABLE(
  'the first request with this Idempotency-Key ended without a recorded outcome; it may have reached the vehicle',
);
