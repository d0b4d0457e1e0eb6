import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningLocalStack } from '../../local/stack.js';
import { startInProcessLocalStack, type InProcessLocalStack } from '../support/in-process-local-stack.js';
import type { FakeSmartcar, FakeSmartcarCall } from '../../local/stand-ins/smartcar/index.js';

/**
 * Webhook subscriptions through local mode, in-process with the real handlers: Connect with the fake Smartcar →
 * the callback queues one message per vehicle and webhook (SMARTCAR_WEBHOOK_IDS=wh-a,wh-b) → the SQS emulator →
 * the worker (real `smartcar` SDK, the vehicle's access token) → records read by `GET /vehicles/{id}`; and the
 * disconnect, which unsubscribes with the management token before it revokes.
 */

const AMT = 'subscriptions-it-amt';
let stack: RunningLocalStack;
let fake: FakeSmartcar;
let running: InProcessLocalStack | undefined;

beforeAll(async () => {
  running = await startInProcessLocalStack('subscriptions-it', AMT, { SMARTCAR_WEBHOOK_IDS: 'wh-a,wh-b' });
  ({ stack, fake } = running);
}, 120_000);

afterAll(async () => {
  await running?.stop();
});

interface Subscription {
  webhookId: string;
  status: string;
  error?: { type: string | null; code: string | null };
}

/**
 * A Connect approved at once by the fake and confirmed by the app's backend for the same user (the vehicles are
 * linked, and so subscribed, by the confirm); the ids of the vehicles it linked.
 */
async function connect(userId: string): Promise<string[]> {
  const started = (await (
    await fetch(`${stack.url}/connect`, { method: 'POST', body: JSON.stringify({ userId }) })
  ).json()) as { url: string };
  const landed = await fetch(`${started.url}&fake_auto=1`);
  expect(landed.url).toContain('status=pending');
  const connectId = new URL(landed.url).searchParams.get('connectId') ?? '';
  const confirmed = await fetch(`${stack.url}/connect/${connectId}/confirm`, {
    method: 'POST',
    body: JSON.stringify({ userId }),
  });
  expect(confirmed.status).toBe(200);
  const list = (await (await fetch(`${stack.url}/vehicles?userId=${userId}`)).json()) as {
    vehicles: { vehicleId: string }[];
  };
  return list.vehicles.map((vehicle) => vehicle.vehicleId);
}

async function subscriptionsOf(vehicleId: string): Promise<Subscription[]> {
  const view = (await (await fetch(`${stack.url}/vehicles/${vehicleId}`)).json()) as {
    subscriptions: Subscription[];
  };
  return view.subscriptions;
}

/** Polls until every subscription of the vehicle has `status` (the worker runs asynchronously). */
async function eventually(vehicleId: string, status: string, timeoutMs = 20_000): Promise<Subscription[]> {
  const endsAt = Date.now() + timeoutMs;
  for (;;) {
    const subscriptions = await subscriptionsOf(vehicleId);
    if (subscriptions.length === 2 && subscriptions.every((s) => s.status === status)) return subscriptions;
    if (Date.now() > endsAt) throw new Error(`not all ${status}: ${JSON.stringify(subscriptions)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const callsTo = (vehicleId: string, route: FakeSmartcarCall['route']) =>
  fake.calls.filter((call) => call.route === route && call.path.includes(`/vehicles/${vehicleId}/`));

describe('webhook subscriptions (local mode, fake Smartcar)', () => {
  it('subscribes each vehicle of a Connect to both webhooks with its access token; GET shows both ACTIVE', async () => {
    const vehicleIds = await connect('sub-alice');
    expect(vehicleIds).toHaveLength(2);
    // The access token the callback itself used for this grant (its `GET /vehicles`).
    const grantToken = fake.calls.filter((call) => call.route === 'vehicles').at(-1)?.accessToken;
    expect(grantToken).toBeDefined();
    for (const vehicleId of vehicleIds) {
      expect((await eventually(vehicleId, 'ACTIVE')).map((s) => s.webhookId)).toEqual(['wh-a', 'wh-b']);
      const calls = callsTo(vehicleId, 'subscribe');
      expect(calls.map((call) => [call.method, call.path, call.status])).toEqual(
        expect.arrayContaining([
          ['POST', `/v2.0/vehicles/${vehicleId}/webhooks/wh-a`, 200],
          ['POST', `/v2.0/vehicles/${vehicleId}/webhooks/wh-b`, 200],
        ]),
      );
      expect(new Set(calls.map((call) => call.accessToken))).toEqual(new Set([grantToken]));
    }
    expect(fake.subscriptions().filter((s) => vehicleIds.includes(s.vehicleId))).toHaveLength(4);
  });

  it('a 429 with Retry-After: the record stays PENDING with the error, and ends ACTIVE after the back-off', async () => {
    // Every subscribe answers 429 (Retry-After: 2 s) until 4 have been refused; then Smartcar accepts again.
    fake.failNext('subscribe', 429, undefined, { retryAfter: 2, times: 4 });
    const vehicleIds = await connect('sub-bob');
    const first = vehicleIds[0] ?? '';
    await new Promise((resolve) => setTimeout(resolve, 700));
    const pending = await subscriptionsOf(first);
    expect(pending.some((s) => s.status === 'PENDING' && s.error?.type === 'RATE_LIMIT')).toBe(true);

    for (const vehicleId of vehicleIds) await eventually(vehicleId, 'ACTIVE');
    const calls = vehicleIds.flatMap((vehicleId) => callsTo(vehicleId, 'subscribe'));
    const refused = calls.filter((call) => call.status === 429);
    expect(refused).toHaveLength(4);
    // Each refused subscription was retried no sooner than Retry-After.
    for (const call of refused) {
      const retry = calls.find((later) => later.path === call.path && later.status === 200);
      expect(retry).toBeDefined();
      expect((retry?.at ?? 0) - call.at).toBeGreaterThanOrEqual(2_000);
    }
  }, 30_000);

  it('disconnect removes both subscriptions with the management token, then revokes the connection', async () => {
    const [vehicleId = ''] = await connect('sub-carol');
    await eventually(vehicleId, 'ACTIVE');
    const from = fake.calls.length;

    const response = await fetch(`${stack.url}/vehicles/${vehicleId}`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    const calls = fake.calls.slice(from);
    expect(calls.map((call) => [call.method, call.route, call.status])).toEqual([
      ['DELETE', 'unsubscribe', 200],
      ['DELETE', 'unsubscribe', 200],
      ['DELETE', 'management', 200],
    ]);
    expect(
      calls
        .slice(0, 2)
        .map((call) => call.path)
        .sort(),
    ).toEqual([`/v2.0/vehicles/${vehicleId}/webhooks/wh-a`, `/v2.0/vehicles/${vehicleId}/webhooks/wh-b`]);
    expect(calls.slice(0, 2).every((call) => call.accessToken === AMT)).toBe(true);
    expect(fake.subscriptions().filter((s) => s.vehicleId === vehicleId)).toEqual([]);
    expect((await subscriptionsOf(vehicleId)).map((s) => s.status)).toEqual(['REMOVED', 'REMOVED']);
  });

  it('a failed unsubscription is recorded but does not block the revocation', async () => {
    const [vehicleId = ''] = await connect('sub-dave');
    await eventually(vehicleId, 'ACTIVE');
    fake.failNext('unsubscribe', 500, undefined, { times: 2 });

    const response = await fetch(`${stack.url}/vehicles/${vehicleId}`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(fake.connections().some((c) => c.vehicleId === vehicleId)).toBe(false);
    const subscriptions = await subscriptionsOf(vehicleId);
    expect(subscriptions.map((s) => [s.status, s.error?.type])).toEqual([
      ['REMOVED', 'SERVER'],
      ['REMOVED', 'SERVER'],
    ]);
  });

  it('POST /vehicles/{vehicleId}/subscriptions subscribes a linked vehicle again; unknown vehicles are 404', async () => {
    const [vehicleId = ''] = await connect('sub-erin');
    await eventually(vehicleId, 'ACTIVE');
    const before = callsTo(vehicleId, 'subscribe').length;
    const response = await fetch(`${stack.url}/vehicles/${vehicleId}/subscriptions`, { method: 'POST' });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { queued: number }).queued).toBe(2);
    await eventually(vehicleId, 'ACTIVE');
    await expect.poll(() => callsTo(vehicleId, 'subscribe').length, { timeout: 10_000 }).toBe(before + 2);

    const unknown = await fetch(`${stack.url}/vehicles/no-such-vehicle/subscriptions`, { method: 'POST' });
    expect(unknown.status).toBe(404);
  });
});
