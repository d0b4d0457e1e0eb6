import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { deadline } from '../../lambdas/runtime/deadline.js';
import { REFRESH_TOKEN_LIFETIME_MS, type SmartcarGateway } from '../../lambdas/smartcar/gateway.js';
import { TokenExchangeError } from '../../lambdas/smartcar/errors.js';
import type { SmartcarSecret } from '../../lambdas/smartcar/secret.js';
import { startFakeSmartcarGateway, type FakeSmartcarGateway } from '../support/fake-smartcar-sdk.js';

/** exchangeRefreshToken over the REAL smartcar SDK against the fake Smartcar (loopback). */

let fake: FakeSmartcar;
let redirectUri: string;
let current: SmartcarSecret = { clientId: 'client', clientSecret: 'right', managementToken: 'amt' };
let gateway: SmartcarGateway;
let harness: FakeSmartcarGateway;
const limit = (perCallMs = 5_000) => deadline({ perCallMs, endsAt: Date.now() + 20_000 });

beforeAll(async () => {
  harness = await startFakeSmartcarGateway(current, () => current);
  ({ fake, redirectUri, gateway } = harness);
});

afterAll(() => harness?.stop());

async function freshRefreshToken(): Promise<string> {
  const { code } = fake.createAuthorizationCode({ redirectUri });
  return (await gateway.exchangeCode(code, limit())).refreshToken;
}

async function failure(promise: Promise<unknown>): Promise<TokenExchangeError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TokenExchangeError);
  return error as TokenExchangeError;
}

describe('exchangeRefreshToken', () => {
  it('rotates: a new pair, expiries counted from when the request was sent', async () => {
    const old = await freshRefreshToken();
    const issuedAt = Date.now() - 1_000;
    const pair = await gateway.exchangeRefreshToken(old, limit(), issuedAt);
    expect(pair.refreshToken).not.toBe(old);
    expect(pair.accessExpiresAt).toBe(issuedAt + 7_200_000);
    expect(pair.refreshExpiresAt).toBe(issuedAt + REFRESH_TOKEN_LIFETIME_MS);
    expect(fake.refreshTokenState(old)).toBe('grace');
    expect(fake.refreshTokenState(pair.refreshToken)).toBe('active');
  });

  it('maps the answers: invalid_grant, 401 client, 429 with Retry-After, 5xx, our timeout', async () => {
    const token = await freshRefreshToken();
    expect((await failure(gateway.exchangeRefreshToken('not-a-token', limit()))).kind).toBe('invalid_grant');

    current = { ...current, clientSecret: 'wrong' };
    try {
      expect((await failure(gateway.exchangeRefreshToken(token, limit()))).kind).toBe('client_rejected');
    } finally {
      current = { ...current, clientSecret: 'right' };
    }

    fake.failNext('token', 429, undefined, { retryAfter: 7 });
    const limited = await failure(gateway.exchangeRefreshToken(token, limit()));
    expect(limited.kind).toBe('rate_limited');
    expect(limited.details).toMatchObject({ statusCode: 429, type: 'RATE_LIMIT', retryAfterMs: 7_000 });

    fake.failNext('token', 500);
    expect((await failure(gateway.exchangeRefreshToken(token, limit()))).kind).toBe('transient');
    fake.setDown(true, { routes: ['token'], html: true });
    try {
      expect((await failure(gateway.exchangeRefreshToken(token, limit()))).kind).toBe('transient');
    } finally {
      fake.setDown(false, { routes: ['token'] });
    }
    // No time left at all: our deadline refuses to start the call.
    expect((await failure(gateway.exchangeRefreshToken(token, limit(0)))).kind).toBe('transient');
    // None of those consumed the token.
    expect(fake.refreshTokenState(token)).toBe('active');
  });
});
