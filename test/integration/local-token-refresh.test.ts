import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../support/local-stack.js';

/**
 * The token refresh as a developer tries it in local mode: connect a vehicle through the fake Smartcar, run
 * `POST /local/jobs/token-refresh` as of 55 days later, and see the grant rotated (new version, new expiry)
 * with its vehicles still CONNECTED — the real refresh handler, SDK, KMS stand-in and DynamoDB Local.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

let stack: LocalStack;

beforeAll(async () => {
  // The timer is off so only the on-demand runs below touch the grant.
  stack = await startLocalStack({ LOCAL_FAKE_SMARTCAR: 'true', LOCAL_TOKEN_REFRESH_INTERVAL_MINUTES: '0' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

interface GrantView {
  grantId: string;
  appUserId: string;
  status: string;
  version: number;
  vehicleIds: string[];
  accessExpiresAt: string;
  refreshExpiresAt: string;
}

async function grantsOf(userId: string): Promise<GrantView[]> {
  const response = await fetch(`${stack.baseUrl}/local/grants?userId=${userId}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { grants: GrantView[] }).grants;
}

async function connect(userId: string): Promise<void> {
  const started = await fetch(`${stack.baseUrl}/connect`, {
    method: 'POST',
    body: JSON.stringify({ userId }),
  });
  const { url } = (await started.json()) as { url: string };
  // fake_auto=1: the fake Connect approves at once and redirects to our callback.
  const approved = await fetch(`${url}&fake_auto=1`, { redirect: 'manual' });
  const callback = approved.headers.get('location');
  expect(callback).toMatch(/\/oauth\/callback\?/);
  const landed = await fetch(String(callback), { redirect: 'manual' });
  const landing = new URL(landed.headers.get('location') ?? '');
  expect(landing.searchParams.get('status')).toBe('pending');
  expect(landing.searchParams.get('vehicles')).toBe('2');
  // The app's backend confirms the connect for the user logged in on that browser.
  const confirmed = await fetch(
    `${stack.baseUrl}/connect/${landing.searchParams.get('connectId') ?? ''}/confirm`,
    { method: 'POST', body: JSON.stringify({ userId }) },
  );
  expect(confirmed.status).toBe(200);
}

async function runRefresh(time: Date) {
  const response = await fetch(`${stack.baseUrl}/local/jobs/token-refresh`, {
    method: 'POST',
    body: JSON.stringify({ time: time.toISOString() }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, number>;
}

describe('token refresh in local mode', () => {
  it('rotates a grant that is due, keeps its vehicles connected, and leaves it alone when not due', async () => {
    await connect('carol');
    const [before] = await grantsOf('carol');
    expect(before).toMatchObject({ status: 'ACTIVE', version: 1 });
    expect(JSON.stringify(before)).not.toMatch(/ciphertext|accessToken|refreshToken/i);

    // Today nothing of carol's is due: the refresh token has 60 days left.
    const today = await runRefresh(new Date());
    expect(today).toMatchObject({ refreshed: 0, failed: 0, needsReauth: 0 });
    expect((await grantsOf('carol'))[0]?.version).toBe(1);

    const later = new Date(Date.now() + 55 * DAY_MS);
    const summary = await runRefresh(later);
    expect(Object.keys(summary).sort()).toEqual(['due', 'failed', 'needsReauth', 'refreshed', 'skipped']);
    expect(summary).toMatchObject({ refreshed: 1, failed: 0, needsReauth: 0 });

    const [after] = await grantsOf('carol');
    expect(after).toMatchObject({ grantId: before?.grantId, status: 'ACTIVE', version: 2 });
    expect(Date.parse(after?.refreshExpiresAt ?? '')).toBeGreaterThan(
      Date.parse(before?.refreshExpiresAt ?? ''),
    );

    const list = await fetch(`${stack.baseUrl}/vehicles?userId=carol`);
    const { vehicles } = (await list.json()) as { vehicles: { status: string }[] };
    expect(vehicles).toHaveLength(2);
    expect(vehicles.every((vehicle) => vehicle.status === 'CONNECTED')).toBe(true);

    // Today's run again: the new pair is not due (its expiry counts from when Smartcar issued it, the wall clock).
    expect(await runRefresh(new Date())).toMatchObject({ refreshed: 0 });
    expect((await grantsOf('carol'))[0]?.version).toBe(2);
  });

  it('refuses a malformed time with 400', async () => {
    const response = await fetch(`${stack.baseUrl}/local/jobs/token-refresh`, {
      method: 'POST',
      body: '{"time":"next tuesday"}',
    });
    expect(response.status).toBe(400);
  });
});
