import smartcar from 'smartcar';
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../lambdas/runtime/deadline.js';
import {
  classifyTokenExchangeError,
  describeSmartcarError,
  parseRetryAfter,
} from '../../lambdas/smartcar/errors.js';

/** How a failed refresh-token exchange is read: what the SDK throws → what the rotation does about it. */

const json = { 'content-type': 'application/json' };
const sdkError = (
  status: number,
  body: Record<string, unknown> | string,
  headers: Record<string, string> = json,
) => new smartcar.SmartcarError(status, body, headers);

describe('classifyTokenExchangeError', () => {
  it('invalid_grant (the refresh token is dead) → re-authorization', () => {
    const error = classifyTokenExchangeError(
      sdkError(400, { error: 'invalid_grant', error_description: 'Invalid or expired refresh token.' }),
    );
    expect(error.kind).toBe('invalid_grant');
    expect(error.details).toMatchObject({ statusCode: 400, type: 'invalid_grant' });
  });

  it('401 / invalid_client is about our client credentials, never the grant', () => {
    expect(classifyTokenExchangeError(sdkError(401, { error: 'invalid_client' })).kind).toBe(
      'client_rejected',
    );
    expect(
      classifyTokenExchangeError(sdkError(401, { type: 'AUTHENTICATION', code: null, description: 'x' }))
        .kind,
    ).toBe('client_rejected');
  });

  it('429 / RATE_LIMIT with Retry-After in seconds or as an HTTP date', () => {
    const seconds = classifyTokenExchangeError(
      sdkError(429, { type: 'RATE_LIMIT', code: 'SMARTCAR_API' }, { ...json, 'retry-after': '7' }),
    );
    expect(seconds.kind).toBe('rate_limited');
    expect(seconds.details.retryAfterMs).toBe(7_000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    const date = classifyTokenExchangeError(
      sdkError(429, { type: 'RATE_LIMIT' }, { ...json, 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }),
      now,
    );
    expect(date.details.retryAfterMs).toBe(30_000);
    const none = classifyTokenExchangeError(sdkError(429, { type: 'RATE_LIMIT' }));
    expect(none.kind).toBe('rate_limited');
    expect(none.details.retryAfterMs).toBeUndefined();
  });

  it('5xx, SERVER, the SDK timeout (408), HTML error pages, our timeout and network errors are transient', () => {
    expect(classifyTokenExchangeError(sdkError(500, { type: 'SERVER', code: 'INTERNAL' })).kind).toBe(
      'transient',
    );
    expect(
      classifyTokenExchangeError(sdkError(503, '<html>503</html>', { 'content-type': 'text/html' })).kind,
    ).toBe('transient');
    expect(
      classifyTokenExchangeError(sdkError(408, 'Request timed out', { 'content-type': 'application/json' }))
        .kind,
    ).toBe('transient');
    expect(classifyTokenExchangeError(new TimeoutError('exchangeRefreshToken', 5_000)).kind).toBe(
      'transient',
    );
    expect(classifyTokenExchangeError(new TypeError('fetch failed')).kind).toBe('transient');
  });

  it('other 4xx are refused for good but are not a reason for re-authorization', () => {
    expect(classifyTokenExchangeError(sdkError(400, { error: 'invalid_request' })).kind).toBe('rejected');
    expect(classifyTokenExchangeError(sdkError(403, { type: 'PERMISSION' })).kind).toBe('rejected');
  });

  it('describes the error with identifiers only', () => {
    const described = describeSmartcarError(
      classifyTokenExchangeError(sdkError(400, { error: 'invalid_grant', requestId: 'req-1' })),
    );
    expect(described).toEqual({
      name: 'TokenExchangeError',
      kind: 'invalid_grant',
      statusCode: 400,
      type: 'invalid_grant',
      requestId: 'req-1',
    });
    expect(describeSmartcarError(classifyTokenExchangeError(new TypeError('fetch failed')))).toMatchObject({
      kind: 'transient',
      cause: { name: 'TypeError' },
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, clamps to [0, 1 h], ignores garbage', () => {
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter(' 2.5 ')).toBe(2_500);
    expect(parseRetryAfter('86400')).toBe(3_600_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', Date.parse('2026-01-01T00:01:00Z'))).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
