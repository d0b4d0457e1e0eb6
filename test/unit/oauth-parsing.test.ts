import { describe, expect, it } from 'vitest';
import {
  CONNECT_ERRORS,
  connectErrorReason,
  parseCallbackQuery,
} from '../../lambdas/oauth-callback/query.js';
import { parseConnectRequest } from '../../lambdas/oauth-connect/request.js';
import { isWellFormedState, newState } from '../../lambdas/oauth/oauth-state.js';
import { redirect, withQuery } from '../../lambdas/runtime/http.js';
import { decodeNextToken, encodeNextToken } from '../../lambdas/vehicle-read/list.js';

describe('POST /connect body', () => {
  it('accepts a user id with the usual identifier characters', () => {
    for (const userId of ['42', 'user_1', 'auth0|abc123', 'jane.doe+cars@example.com', 'a'.repeat(128)]) {
      expect(parseConnectRequest(JSON.stringify({ userId }))).toEqual({ ok: true, userId });
    }
  });

  it('bounds what a 400 echoes back', () => {
    const scopes = Array.from({ length: 12 }, (_, i) => `bogus_${i}_${'x'.repeat(100)}`);
    const result = parseConnectRequest(JSON.stringify({ userId: 'u', scopes }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBe('unknown_scopes');
    expect(result.message).toMatch(/and 2 more$/);
    expect(result.message.length).toBeLessThan(900);
  });

  it('refuses more scopes than could be meaningful', () => {
    const scopes = Array.from({ length: 57 }, () => 'read_vin');
    expect(parseConnectRequest(JSON.stringify({ userId: 'u', scopes }))).toMatchObject({
      ok: false,
      error: 'invalid_scopes',
    });
  });
});

describe('callback query', () => {
  it('reads code, state and error from the raw query string', () => {
    expect(parseCallbackQuery({ rawQueryString: 'code=c-1&state=s-1&extra=1' })).toEqual({
      code: 'c-1',
      state: 's-1',
      repeated: [],
    });
    expect(
      parseCallbackQuery({ rawQueryString: 'error=access_denied&error_description=No%20way&state=s' }),
    ).toEqual({
      error: 'access_denied',
      state: 's',
      repeated: [],
    });
  });

  it('flags repeated parameters and ignores empty or oversized values', () => {
    expect(parseCallbackQuery({ rawQueryString: 'state=a&state=b&code=' }).repeated).toEqual(['state']);
    expect(parseCallbackQuery({ rawQueryString: 'state=a&state=b' }).state).toBeUndefined();
    expect(parseCallbackQuery({ rawQueryString: 'code=' }).code).toBeUndefined();
    expect(parseCallbackQuery({ rawQueryString: `code=${'x'.repeat(513)}` }).code).toBeUndefined();
  });

  it('falls back to queryStringParameters without a raw query string', () => {
    expect(
      parseCallbackQuery({ rawQueryString: '', queryStringParameters: { code: 'c', state: 's' } }),
    ).toEqual({
      code: 'c',
      state: 's',
      repeated: [],
    });
  });

  it('passes only documented Connect errors through', () => {
    for (const error of CONNECT_ERRORS) expect(connectErrorReason(error)).toBe(error);
    for (const error of ['invalid_request', 'ACCESS_DENIED', '<b>', 'reason=x&y']) {
      expect(connectErrorReason(error)).toBe('connect_error');
    }
  });
});

describe('state values', () => {
  it('are 256 random bits in base64url, never repeated', () => {
    const states = new Set(Array.from({ length: 200 }, () => newState()));
    expect(states.size).toBe(200);
    for (const state of states) {
      expect(isWellFormedState(state)).toBe(true);
      expect(Buffer.from(state, 'base64url')).toHaveLength(32);
    }
    expect(isWellFormedState('a'.repeat(42))).toBe(false);
    expect(isWellFormedState(`${'a'.repeat(42)}=`)).toBe(false);
    expect(isWellFormedState(`${'a'.repeat(42)}/`)).toBe(false);
  });
});

describe('redirect URLs', () => {
  it('adds parameters with the URL API, keeping existing ones and encoding values', () => {
    expect(withQuery('https://app.example.com/done?lang=de#x', { status: 'connected', vehicles: '2' })).toBe(
      'https://app.example.com/done?lang=de&status=connected&vehicles=2#x',
    );
    expect(withQuery('https://app.example.com/failed?reason=old', { reason: 'a b&c' })).toBe(
      'https://app.example.com/failed?reason=a+b%26c',
    );
  });

  it('302 without a body, not cacheable, no referrer', () => {
    expect(redirect('https://app.example.com/')).toEqual({
      statusCode: 302,
      headers: {
        location: 'https://app.example.com/',
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      },
      body: '',
    });
  });
});

describe('vehicle list nextToken', () => {
  const key = { pk: 'VEHICLE#v-1', sk: 'PROFILE', appUserId: 'u-1', vehicleId: 'v-1' };

  it('round-trips a key of the same user', () => {
    expect(decodeNextToken(encodeNextToken(key), 'u-1')).toEqual(key);
  });

  it.each([
    ['another user', { ...key }, 'u-2'],
    ['another partition', { ...key, pk: 'VEHICLE#v-2' }, 'u-1'],
    ['a non-profile item', { ...key, sk: 'SIGNAL#x' }, 'u-1'],
    ['extra attributes', { ...key, extra: 1 }, 'u-1'],
    ['a bad vehicle id', { ...key, vehicleId: 'a#b', pk: 'VEHICLE#a#b' }, 'u-1'],
  ])('refuses %s', (_label, forged, user) => {
    expect(decodeNextToken(encodeNextToken(forged), user)).toBeUndefined();
  });

  it('refuses junk', () => {
    for (const token of [
      '',
      '%%%',
      'bm90IGpzb24',
      Buffer.from('[1,2]').toString('base64url'),
      'a'.repeat(3000),
    ]) {
      expect(decodeNextToken(token, 'u-1')).toBeUndefined();
    }
  });
});
