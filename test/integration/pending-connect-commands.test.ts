import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningLocalStack } from '../../local/stack.js';
import { startInProcessLocalStack, type InProcessLocalStack } from '../support/in-process-local-stack.js';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { prepareWebhook, sendWebhook } from '../../local/webhook-client.js';
import { eventually } from '../support/local-stack.js';
import { stateOfChargeEvent } from '../support/webhook-events.js';

/**
 * A vehicle command on a vehicle whose connect still waits for its confirmation (docs/design.md, "Confirmed
 * connect"), through local mode with the real handlers and the fake Smartcar: refused before anything reaches
 * Smartcar, with an answer that names the unconfirmed connect; sent once the connect is confirmed.
 */

const AMT = 'pending-commands-it-amt';
let stack: RunningLocalStack;
let fake: FakeSmartcar;
let running: InProcessLocalStack | undefined;

beforeAll(async () => {
  running = await startInProcessLocalStack('pending-commands-it', AMT);
  ({ stack, fake } = running);
}, 120_000);

afterAll(async () => {
  await running?.stop();
});

beforeEach(() => {
  fake.clearCalls();
});

/** A Connect approved at once by the fake and NOT confirmed: its id and the vehicles it authorized. */
async function pendingConnect(userId: string): Promise<{ connectId: string; vehicleIds: string[] }> {
  const started = (await (
    await fetch(`${stack.url}/connect`, {
      method: 'POST',
      body: JSON.stringify({ userId, scopes: ['read_vehicle_info', 'control_security'] }),
    })
  ).json()) as { url: string };
  const landed = await fetch(`${started.url}&fake_auto=1`);
  expect(landed.url).toContain('status=pending');
  const connectId = new URL(landed.url).searchParams.get('connectId') ?? '';
  const { grants } = (await (await fetch(`${stack.url}/local/grants?userId=${userId}`)).json()) as {
    grants: { grantId: string; pendingVehicleIds?: string[] }[];
  };
  const vehicleIds = grants.find((grant) => grant.grantId === connectId)?.pendingVehicleIds ?? [];
  expect(vehicleIds.length).toBeGreaterThan(0);
  // From here on, only what a command causes.
  fake.clearCalls();
  return { connectId, vehicleIds };
}

async function lock(vehicleId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}/vehicles/${vehicleId}/commands`, {
    method: 'POST',
    body: JSON.stringify({ command: 'LOCK' }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** No command, and no token exchange for one, reached the fake Smartcar. */
function expectNothingSentToSmartcar(): void {
  const routes = fake.calls.map((call) => call.route);
  expect(routes).not.toContain('command');
  expect(routes).not.toContain('token');
}

describe('a command on a vehicle whose connect is not confirmed yet', () => {
  it('answers 404 vehicle_not_found naming the unconfirmed connect, and nothing reaches Smartcar', async () => {
    const { vehicleIds } = await pendingConnect(`pending-${randomUUID().slice(0, 8)}`);
    const vehicleId = vehicleIds[0] ?? '';

    const refused = await lock(vehicleId);
    expect(refused.status).toBe(404);
    expect(refused.body).toEqual({
      error: 'vehicle_not_found',
      message: `vehicle ${vehicleId} is not linked (or its connect is not yet confirmed)`,
    });
    // The history of such a vehicle is refused the same way.
    const history = await fetch(`${stack.url}/vehicles/${vehicleId}/commands`);
    expect(history.status).toBe(404);
    expect(((await history.json()) as { message: string }).message).toContain('not yet confirmed');
    expectNothingSentToSmartcar();
  });

  it('answers 409 vehicle_not_connected naming the unconfirmed connect once webhooks created its profile', async () => {
    const { vehicleIds } = await pendingConnect(`pending-${randomUUID().slice(0, 8)}`);
    const vehicleId = vehicleIds[0] ?? '';
    // Smartcar delivers for a connected vehicle whether or not the app has confirmed the connect.
    const delivered = await sendWebhook(
      `${stack.url}/webhooks/smartcar`,
      prepareWebhook(
        Buffer.from(JSON.stringify(stateOfChargeEvent(vehicleId, { oemUpdatedAt: Date.now() - 1_000 }))),
        {
          keepId: true,
        },
      ),
      AMT,
    );
    expect(delivered.ok).toBe(true);
    await eventually(async () => {
      const read = await fetch(`${stack.url}/vehicles/${vehicleId}`);
      return read.status === 200 ? true : undefined;
    });

    const refused = await lock(vehicleId);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('vehicle_not_connected');
    expect(refused.body.message).toContain('not yet confirmed');
    expectNothingSentToSmartcar();
  });

  it('is sent once the app confirmed the connect for the user who started it', async () => {
    const userId = `pending-${randomUUID().slice(0, 8)}`;
    const { connectId, vehicleIds } = await pendingConnect(userId);
    const vehicleId = vehicleIds[0] ?? '';
    expect((await lock(vehicleId)).status).toBe(404);

    const confirmed = await fetch(`${stack.url}/connect/${connectId}/confirm`, {
      method: 'POST',
      body: JSON.stringify({ userId }),
    });
    expect(confirmed.status).toBe(200);
    const sent = await lock(vehicleId);
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ vehicleId, command: 'LOCK', status: 'SENT' });
    expect(fake.calls.filter((call) => call.route === 'command')).toHaveLength(1);
  });
});
