import { json, NOT_FOUND, v2ErrorBody, type Reply, type V2ErrorFields } from './http.js';
import type { Ctx } from './router.js';
import type { DownOptions, FailureOptions, FakeSmartcarRoute } from './types.js';

/** The failures tests inject (`failNext`, `setDown`) and the Smartcar-shaped errors they answer with. */

const DEFAULT_FAILURES: Readonly<Record<number, V2ErrorFields>> = {
  400: {
    type: 'VALIDATION',
    code: null,
    description: 'Request invalid or malformed.',
    resolution: null,
    docPath: 'validation-errors',
  },
  401: {
    type: 'AUTHENTICATION',
    code: null,
    description: 'Invalid or expired authentication credentials.',
    resolution: null,
    docPath: 'authentication-errors',
  },
  403: {
    type: 'PERMISSION',
    code: null,
    description: 'Insufficient permissions.',
    resolution: 'REAUTHENTICATE',
    docPath: 'permission-errors',
  },
  404: NOT_FOUND,
  409: {
    type: 'VEHICLE_STATE',
    code: 'UNKNOWN',
    description: 'The vehicle is in an unknown state.',
    resolution: 'RETRY_LATER',
    docPath: 'vehicle-state-errors',
  },
  429: {
    type: 'RATE_LIMIT',
    code: 'SMARTCAR_API',
    description: 'You have reached the throttling rate limit for this application.',
    resolution: 'RETRY_LATER',
    docPath: 'rate-limit-errors#smartcar-api',
  },
  430: {
    type: 'BILLING',
    code: 'INVALID_PLAN',
    description: 'Your plan does not allow this request.',
    resolution: 'CONTACT_SUPPORT',
    docPath: 'billing-errors',
  },
  502: {
    type: 'UPSTREAM',
    code: 'UNKNOWN_ISSUE',
    description: 'The OEM failed to process the request.',
    resolution: 'RETRY_LATER',
    docPath: 'upstream-errors',
  },
};

const SERVER_FAILURE: V2ErrorFields = {
  type: 'SERVER',
  code: 'INTERNAL',
  description: 'Smartcar ran into an unexpected issue.',
  resolution: 'RETRY_LATER',
  docPath: 'server-errors',
};

/** What `failNext` sends when no body is given: the error Smartcar would send for that status. */
export function defaultFailureBody(route: FakeSmartcarRoute, status: number, requestId: string): unknown {
  if (route === 'token' && status === 400) {
    return { error: 'invalid_grant', error_description: 'Invalid or expired grant.' };
  }
  if (route === 'token' && status === 401) {
    return { error: 'invalid_client', error_description: 'Invalid client credentials.' };
  }
  return v2ErrorBody(requestId, status, DEFAULT_FAILURES[status] ?? SERVER_FAILURE);
}

/** The answer to a request that failed inside the fake itself. */
export function serverError(requestId: string): Reply {
  return json(500, v2ErrorBody(requestId, 500, SERVER_FAILURE), requestId);
}

interface InjectedFailure {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  remaining: number;
}

export interface Faults {
  failNext(route: FakeSmartcarRoute, status: number, body?: unknown, options?: FailureOptions): void;
  setDown(down: boolean, options?: DownOptions): void;
  /** The injected answer for this request, if the route is down or has a failure queued (which it uses up). */
  injectedReply(ctx: Ctx, route: FakeSmartcarRoute): Reply | undefined;
}

export function createFaults(): Faults {
  const failures = new Map<FakeSmartcarRoute, InjectedFailure[]>();
  const down = new Map<FakeSmartcarRoute, { status: number; html: boolean }>();

  function injectedReply(ctx: Ctx, route: FakeSmartcarRoute): Reply | undefined {
    const outage = down.get(route);
    if (outage) {
      ctx.injected = true;
      ctx.error = 'DOWN';
      if (outage.html) {
        return {
          status: outage.status,
          headers: { 'content-type': 'text/html; charset=utf-8' },
          body: '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n',
        };
      }
      return json(outage.status, defaultFailureBody(route, outage.status, ctx.requestId), ctx.requestId);
    }
    const pending = failures.get(route);
    const failure = pending?.[0];
    if (!pending || !failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining <= 0) pending.shift();
    ctx.injected = true;
    const body =
      failure.body === undefined ? defaultFailureBody(route, failure.status, ctx.requestId) : failure.body;
    if (typeof body === 'object' && body !== null) {
      const record = body as Record<string, unknown>;
      const label = record.error ?? record.type;
      if (typeof label === 'string') ctx.error = label;
    }
    if (typeof body === 'string') {
      const type = body.trimStart().startsWith('<') ? 'text/html' : 'text/plain';
      return {
        status: failure.status,
        headers: {
          'content-type': `${type}; charset=utf-8`,
          'sc-request-id': ctx.requestId,
          ...failure.headers,
        },
        body,
      };
    }
    return json(failure.status, body, ctx.requestId, failure.headers);
  }

  return {
    failNext: (route, status, body, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      if (options.retryAfter !== undefined) headers['retry-after'] = String(options.retryAfter);
      const list = failures.get(route) ?? [];
      list.push({ status, body, headers, remaining: Math.max(1, options.times ?? 1) });
      failures.set(route, list);
    },
    setDown: (isDown, options = {}) => {
      for (const route of options.routes ?? ['management']) {
        if (isDown) {
          const htmlPage = options.html === true;
          down.set(route, { status: options.status ?? (htmlPage ? 503 : 500), html: htmlPage });
        } else {
          down.delete(route);
        }
      }
    },
    injectedReply,
  };
}
