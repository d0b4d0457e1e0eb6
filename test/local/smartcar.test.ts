import smartcar, { type Access, type AuthClient, type SmartcarError } from 'smartcar';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSmartcar, type FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { freePort } from '../support/ports.js';

/**
 * The fake driven by the REAL `smartcar` SDK over loopback. The SDK reads its origin variables from
 * `process.env` when each client is constructed / each call is made (not at module load), so a static import
 * is fine as long as the variables are set before the clients are built.
 */

const CLIENT_ID = 'fake-client-id';
const CLIENT_SECRET = 'fake-client-secret';
const AMT = 'fake-application-management-token';
const ORIGIN_VARS = [
  'SMARTCAR_AUTH_ORIGIN',
  'SMARTCAR_API_ORIGIN',
  'SMARTCAR_MANAGEMENT_API_ORIGIN',
] as const;
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

let fake: FakeSmartcar;
let redirectUri: string;
let client: AuthClient;
const savedEnv = new Map<string, string | undefined>();

beforeAll(async () => {
  fake = await startFakeSmartcar({
    port: await freePort(),
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: AMT,
  });
  // Nothing listens there: redirects are read with `redirect: 'manual'`.
  redirectUri = `http://127.0.0.1:${await freePort()}/smartcar/callback`;
  for (const name of ORIGIN_VARS) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = fake.env[name];
  }
  client = new smartcar.AuthClient({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri,
    mode: 'test',
  });
});

afterAll(async () => {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await fake?.stop();
});

afterEach(() => {
  fake.setClock(null);
  fake.setDown(false);
});

/** Follows a Connect URL without a browser and returns the redirect it answers. */
async function connect(url: string): Promise<URL> {
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const location = response.headers.get('location');
  expect(location).toBeTruthy();
  return new URL(location ?? '');
}

async function authorize(state = 'state-123'): Promise<{ code: string; state: string | null }> {
  const redirect = await connect(
    `${client.getAuthUrl(['read_vehicle_info', 'read_vin'], { state })}&fake_auto=1`,
  );
  expect(`${redirect.origin}${redirect.pathname}`).toBe(redirectUri);
  const code = redirect.searchParams.get('code');
  expect(code).toBeTruthy();
  return { code: code ?? '', state: redirect.searchParams.get('state') };
}

async function login(): Promise<Access> {
  return client.exchangeCode((await authorize()).code);
}

/** Awaits a rejection and checks it is the SDK's error class. */
async function smartcarError(promise: Promise<unknown>): Promise<SmartcarError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(smartcar.SmartcarError);
  return error as SmartcarError;
}

describe('Connect', () => {
  it('getAuthUrl points at the fake, and fake_auto=1 redirects back with a code and the state', async () => {
    const url = new URL(client.getAuthUrl(['read_vehicle_info'], { state: 'abc' }));
    expect(url.origin).toBe(fake.url);
    expect(url.pathname).toBe('/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(url.searchParams.get('redirect_uri')).toBe(redirectUri);
    expect(url.searchParams.get('mode')).toBe('test');

    const { code, state } = await authorize('xyz');
    expect(code).toMatch(/^[0-9a-f-]{36}$/);
    expect(state).toBe('xyz');
  });

  it('shows a Connect page whose Allow link returns a code and whose Deny link returns access_denied', async () => {
    const url = client.getAuthUrl(['read_vehicle_info'], { state: '<s&"tate>' });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const text = await page.text();
    expect(text).not.toContain('<s&"tate>');
    const allow = text.match(/id="allow" href="([^"]+)"/)?.[1]?.replaceAll('&#38;', '&');
    expect(allow).toBeDefined();

    const redirect = await connect(new URL(allow ?? '', fake.url).toString());
    expect(redirect.searchParams.get('code')).toBeTruthy();
    expect(redirect.searchParams.get('state')).toBe('<s&"tate>');
    // The decision link is single-use.
    expect((await fetch(new URL(allow ?? '', fake.url), { redirect: 'manual' })).status).toBe(400);

    const denyPage = await (await fetch(url)).text();
    const deny = denyPage.match(/id="deny" href="([^"]+)"/)?.[1]?.replaceAll('&#38;', '&');
    const denied = await connect(new URL(deny ?? '', fake.url).toString());
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('error_description')).toBe('User denied access to application.');
    expect(denied.searchParams.get('code')).toBeNull();
  });

  it('forces Connect errors with fake_error= or nextAuthorization', async () => {
    const forced = await connect(`${client.getAuthUrl({ state: 's1' })}&fake_error=no_vehicles`);
    expect(forced.searchParams.get('error')).toBe('no_vehicles');
    expect(forced.searchParams.get('state')).toBe('s1');

    fake.nextAuthorization({ error: 'vehicle_incompatible' });
    const queued = await connect(`${client.getAuthUrl({ state: 's2' })}&fake_auto=1`);
    expect(queued.searchParams.get('error')).toBe('vehicle_incompatible');
  });

  it('refuses to redirect for an unknown client or an invalid redirect URI, and reports bad scopes', async () => {
    const other = new smartcar.AuthClient({ clientId: 'someone-else', clientSecret: 'x', redirectUri });
    expect((await fetch(`${other.getAuthUrl()}&fake_auto=1`, { redirect: 'manual' })).status).toBe(400);
    const badRedirect = new smartcar.AuthClient({
      clientId: CLIENT_ID,
      clientSecret: 'x',
      redirectUri: 'javascript:alert(1)',
    });
    expect((await fetch(`${badRedirect.getAuthUrl()}&fake_auto=1`, { redirect: 'manual' })).status).toBe(400);

    const badScope = await connect(`${client.getAuthUrl(['drive_car'])}&fake_auto=1`);
    expect(badScope.searchParams.get('error')).toBe('configuration_error');
    expect(badScope.searchParams.get('status_code')).toBe('400');
  });
});

describe('token endpoint', () => {
  it('exchanges a code for an access object', async () => {
    const before = Date.now();
    const access = await login();
    expect(access.accessToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(access.refreshToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(access.refreshToken).not.toBe(access.accessToken);
    // The SDK computes both dates from the local clock: now + expires_in, and now + 60 days.
    expect(access.expiration.getTime() - before).toBeGreaterThanOrEqual(2 * HOUR_MS);
    expect(access.expiration.getTime() - before).toBeLessThan(2 * HOUR_MS + 60_000);
    expect(access.refreshExpiration.getTime() - before).toBeGreaterThanOrEqual(60 * DAY_MS);

    const call = fake.calls.findLast((c) => c.route === 'token');
    expect(call).toMatchObject({ method: 'POST', status: 200, grantType: 'authorization_code' });
  });

  it('accepts a code only once (invalid_grant)', async () => {
    const { code } = await authorize();
    await client.exchangeCode(code);
    const error = await smartcarError(client.exchangeCode(code));
    expect(error.statusCode).toBe(400);
    expect(error.type).toBe('invalid_grant');
    expect(error.code).toBeUndefined();
    expect(error.description).toBe('Invalid or expired authorization code.');
    expect(error.message).toBe('invalid_grant:undefined - Invalid or expired authorization code.');
    expect(error.requestId).toBe(fake.calls.at(-1)?.requestId);
    expect(error.name).toBe('SmartcarError');
  });

  it('binds codes to the redirect URI and expires them after 10 minutes', async () => {
    const elsewhere = new smartcar.AuthClient({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: `${redirectUri}/other`,
    });
    const mismatch = await smartcarError(elsewhere.exchangeCode((await authorize()).code));
    expect(mismatch.type).toBe('invalid_grant');

    const { code } = await authorize();
    fake.advanceClock(10 * 60_000 + 1);
    expect((await smartcarError(client.exchangeCode(code))).type).toBe('invalid_grant');
  });

  it('rejects wrong client credentials (invalid_client, 401)', async () => {
    const wrong = new smartcar.AuthClient({
      clientId: CLIENT_ID,
      clientSecret: 'not-the-secret',
      redirectUri,
    });
    const error = await smartcarError(wrong.exchangeCode((await authorize()).code));
    expect(error.statusCode).toBe(401);
    expect(error.type).toBe('invalid_client');
  });

  it('rotates refresh tokens; the old one works within the grace window and fails after it', async () => {
    const first = await login();
    const second = await client.exchangeRefreshToken(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(fake.refreshTokenState(first.refreshToken)).toBe('grace');

    // Crash recovery: the rotated token still works for ~60 s after its first use.
    fake.advanceClock(59_000);
    const retried = await client.exchangeRefreshToken(first.refreshToken);
    expect(retried.refreshToken).not.toBe(second.refreshToken);

    fake.advanceClock(1_000);
    expect(fake.refreshTokenState(first.refreshToken)).toBe('rotated');
    const error = await smartcarError(client.exchangeRefreshToken(first.refreshToken));
    expect(error.statusCode).toBe(400);
    expect(error.type).toBe('invalid_grant');
    expect(error.description).toBe('Refresh token has already been used.');

    // The newest tokens are unaffected, and the log shows which refresh tokens were presented.
    await client.exchangeRefreshToken(second.refreshToken);
    const presented = fake.calls.filter((c) => c.grantType === 'refresh_token').map((c) => c.refreshToken);
    expect(presented.slice(-4)).toEqual([
      first.refreshToken,
      first.refreshToken,
      first.refreshToken,
      second.refreshToken,
    ]);
  });

  it('issues codes without the Connect round trip (createAuthorizationCode)', async () => {
    const { code, userId } = fake.createAuthorizationCode({ redirectUri, scope: ['read_vehicle_info'] });
    const access = await client.exchangeCode(code);
    expect((await smartcar.getUser(access.accessToken)).id).toBe(userId);
  });

  it('enforces registered redirect URIs and strict single-use refresh tokens when configured', async () => {
    const strict = await startFakeSmartcar({
      port: await freePort(),
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      managementToken: AMT,
      redirectUris: [redirectUri],
      refreshReuseGraceSeconds: 0,
    });
    // SMARTCAR_AUTH_ORIGIN is read when an AuthClient is constructed, SMARTCAR_API_ORIGIN on every
    // getAuthUrl call: point both at the second fake for the duration of this test.
    const saved = { auth: process.env.SMARTCAR_AUTH_ORIGIN, api: process.env.SMARTCAR_API_ORIGIN };
    process.env.SMARTCAR_AUTH_ORIGIN = strict.url;
    process.env.SMARTCAR_API_ORIGIN = strict.url;
    try {
      const strictClient = new smartcar.AuthClient({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUri,
      });
      const unregistered = new smartcar.AuthClient({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUri: `${redirectUri}x`,
      });
      expect((await fetch(`${unregistered.getAuthUrl()}&fake_auto=1`, { redirect: 'manual' })).status).toBe(
        400,
      );

      const redirect = await connect(`${strictClient.getAuthUrl()}&fake_auto=1`);
      const access = await strictClient.exchangeCode(redirect.searchParams.get('code') ?? '');
      await strictClient.exchangeRefreshToken(access.refreshToken);
      const reuse = await smartcarError(strictClient.exchangeRefreshToken(access.refreshToken));
      expect(reuse.type).toBe('invalid_grant');
      expect(strict.calls.filter((c) => c.route === 'token')).toHaveLength(3);
    } finally {
      process.env.SMARTCAR_AUTH_ORIGIN = saved.auth;
      process.env.SMARTCAR_API_ORIGIN = saved.api;
      await strict.stop();
    }
  });

  it('expires refresh tokens after 60 days', async () => {
    const access = await login();
    fake.advanceClock(60 * DAY_MS);
    expect(fake.refreshTokenState(access.refreshToken)).toBe('expired');
    expect((await smartcarError(client.exchangeRefreshToken(access.refreshToken))).type).toBe(
      'invalid_grant',
    );
  });

  it('surfaces an injected 429 with Retry-After as SmartcarError.retryAfter, without consuming the token', async () => {
    const access = await login();
    fake.failNext('token', 429, undefined, { retryAfter: 30 });
    const error = await smartcarError(client.exchangeRefreshToken(access.refreshToken));
    expect(error.statusCode).toBe(429);
    expect(error.retryAfter).toBe('30');
    expect(error.type).toBe('RATE_LIMIT');
    expect(error.code).toBe('SMARTCAR_API');
    expect(error.resolution).toEqual({ type: 'RETRY_LATER' });
    expect(fake.calls.at(-1)).toMatchObject({
      injected: true,
      status: 429,
      refreshToken: access.refreshToken,
    });
    expect(fake.refreshTokenState(access.refreshToken)).toBe('active');
    await client.exchangeRefreshToken(access.refreshToken);
  });
});

describe('vehicle API', () => {
  it('lists vehicles with paging, returns the user and vehicle attributes', async () => {
    const user = fake.registerUser({
      vehicles: [
        { make: 'TESLA', model: 'Model Y', year: 2022 },
        { make: 'FORD', model: 'F-150 Lightning', year: 2023 },
        { make: 'KIA', model: 'EV6', year: 2024 },
      ],
    });
    fake.nextAuthorization({ userId: user.id });
    const { accessToken } = await login();

    const page1 = await smartcar.getVehicles(accessToken, { limit: 2 });
    expect(page1.vehicles).toEqual(user.vehicles.slice(0, 2).map((v) => v.id));
    expect(page1.paging).toEqual({ count: 3, offset: 0 });
    expect(page1.meta.requestId).toBe(fake.calls.at(-1)?.requestId);
    const page2 = await smartcar.getVehicles(accessToken, { limit: 2, offset: 2 });
    expect(page2.vehicles).toEqual([user.vehicles[2]?.id]);
    expect(page2.paging).toEqual({ count: 3, offset: 2 });

    expect((await smartcar.getUser(accessToken)).id).toBe(user.id);

    const vehicle = new smartcar.Vehicle(user.vehicles[1]?.id ?? '', accessToken);
    expect(await vehicle.attributes()).toMatchObject({
      id: user.vehicles[1]?.id,
      make: 'FORD',
      model: 'F-150 Lightning',
      year: 2023,
    });
    expect((await vehicle.vin()).vin).toBe(user.vehicles[1]?.vin);
  });

  it('answers 401 AUTHENTICATION for unknown or expired access tokens and foreign vehicles', async () => {
    const unknown = await smartcarError(smartcar.getUser('not-a-token'));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.type).toBe('AUTHENTICATION');
    expect(unknown.code).toBeUndefined();
    expect(unknown.resolution).toEqual({ type: null });
    expect(unknown.docURL).toBe('https://smartcar.com/docs/errors/api-errors/authentication-errors');
    expect(unknown.message).toMatch(/^AUTHENTICATION:null - /);

    const other = fake.registerUser();
    const { accessToken } = await login();
    const foreign = new smartcar.Vehicle(other.vehicles[0]?.id ?? '', accessToken);
    expect((await smartcarError(foreign.attributes())).statusCode).toBe(401);

    fake.advanceClock(2 * HOUR_MS);
    const expired = await smartcarError(smartcar.getVehicles(accessToken));
    expect(expired.statusCode).toBe(401);
    expect(expired.type).toBe('AUTHENTICATION');
  });

  it('validates paging parameters', async () => {
    const { accessToken } = await login();
    const error = await smartcarError(smartcar.getVehicles(accessToken, { limit: 51 }));
    expect(error.statusCode).toBe(400);
    expect(error.type).toBe('VALIDATION');
  });
});

describe('webhook subscriptions', () => {
  it('subscribes with the vehicle access token (again: same answer), unsubscribes only with the management token', async () => {
    const user = fake.registerUser({ vehicles: [{ make: 'KIA', model: 'EV6', year: 2024 }] });
    fake.nextAuthorization({ userId: user.id });
    const { accessToken } = await login();
    const vehicleId = user.vehicles[0]?.id ?? '';
    const vehicle = new smartcar.Vehicle(vehicleId, accessToken);

    expect(await vehicle.subscribe('wh-1')).toMatchObject({ webhookId: 'wh-1', vehicleId });
    expect(await vehicle.subscribe('wh-1')).toMatchObject({ webhookId: 'wh-1', vehicleId });
    expect(fake.subscriptions().filter((s) => s.vehicleId === vehicleId)).toEqual([
      expect.objectContaining({ vehicleId, webhookId: 'wh-1' }),
    ]);
    expect(fake.calls.at(-1)).toMatchObject({ route: 'subscribe', accessToken, status: 200 });

    // Another grant's token does not open this vehicle; the access token is not the management token.
    const other = fake.registerUser();
    fake.nextAuthorization({ userId: other.id });
    const foreign = await login();
    expect(
      (await smartcarError(new smartcar.Vehicle(vehicleId, foreign.accessToken).subscribe('wh-2')))
        .statusCode,
    ).toBe(401);
    expect((await smartcarError(vehicle.unsubscribe(accessToken, 'wh-1'))).statusCode).toBe(401);
    expect(fake.subscriptions().some((s) => s.vehicleId === vehicleId)).toBe(true);

    await vehicle.unsubscribe(AMT, 'wh-1');
    expect(fake.calls.at(-1)).toMatchObject({ route: 'unsubscribe', accessToken: AMT, status: 200 });
    expect(fake.subscriptions().some((s) => s.vehicleId === vehicleId)).toBe(false);
  });

  it('can answer 429 with Retry-After, then 200', async () => {
    const user = fake.registerUser();
    fake.nextAuthorization({ userId: user.id });
    const { accessToken } = await login();
    const vehicle = new smartcar.Vehicle(user.vehicles[0]?.id ?? '', accessToken);
    fake.failNext('subscribe', 429, undefined, { retryAfter: 5 });
    const throttled = await smartcarError(vehicle.subscribe('wh-3'));
    expect(throttled.statusCode).toBe(429);
    expect(throttled.retryAfter).toBe('5');
    expect(await vehicle.subscribe('wh-3')).toMatchObject({ webhookId: 'wh-3' });
  });
});

describe('management API', () => {
  it('deletes connections with the right AMT and the vehicle disappears from the user token', async () => {
    const user = fake.registerUser({ vehicles: [{}, {}] });
    fake.nextAuthorization({ userId: user.id });
    const { accessToken, refreshToken } = await login();
    const [first, second] = user.vehicles;

    const result = await smartcar.deleteConnections(AMT, { vehicleId: first?.id ?? '' });
    expect(result.connections).toEqual([{ userId: user.id, vehicleId: first?.id }]);
    const call = fake.calls.at(-1);
    expect(call).toMatchObject({
      method: 'DELETE',
      route: 'management',
      status: 200,
      query: { vehicle_id: first?.id },
    });
    expect((await smartcar.getVehicles(accessToken)).vehicles).toEqual([second?.id]);

    // Deleting the user's last connection revokes the grant: refresh and API calls fail.
    expect((await smartcar.deleteConnections(AMT, { userId: user.id })).connections).toHaveLength(1);
    expect(fake.refreshTokenState(refreshToken)).toBe('revoked');
    expect((await smartcarError(client.exchangeRefreshToken(refreshToken))).type).toBe('invalid_grant');
    expect((await smartcarError(smartcar.getUser(accessToken))).statusCode).toBe(401);
  });

  it('lists connections', async () => {
    const user = fake.registerUser({ vehicles: [{}] });
    fake.nextAuthorization({ userId: user.id });
    await login();
    const listed = await smartcar.getConnections(AMT, { userId: user.id });
    expect(listed.connections).toEqual([
      { userId: user.id, vehicleId: user.vehicles[0]?.id, connectedAt: expect.any(String) as unknown },
    ]);
  });

  it('answers 401 AUTHENTICATION for a wrong AMT', async () => {
    const error = await smartcarError(smartcar.deleteConnections('wrong-amt', { vehicleId: 'v' }));
    expect(error.statusCode).toBe(401);
    expect(error.type).toBe('AUTHENTICATION');
  });

  it('can be taken down (JSON 500 or an HTML 503 from a load balancer)', async () => {
    fake.setDown(true);
    const server = await smartcarError(smartcar.deleteConnections(AMT, { vehicleId: 'v' }));
    expect(server.statusCode).toBe(500);
    expect(server.type).toBe('SERVER');
    expect(server.code).toBe('INTERNAL');

    fake.setDown(true, { html: true });
    const gateway = await smartcarError(smartcar.deleteConnections(AMT, { vehicleId: 'v' }));
    expect(gateway.statusCode).toBe(503);
    expect(gateway.type).toBeUndefined();
    expect(gateway.message).toContain('503 Service Temporarily Unavailable');

    fake.setDown(false);
    expect((await smartcar.deleteConnections(AMT, { vehicleId: 'v' })).connections).toEqual([]);
  });
});
