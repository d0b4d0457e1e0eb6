import smartcar from 'smartcar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { deadline } from '../../lambdas/runtime/deadline.js';
import { describeSmartcarError, TooManyVehiclesError } from '../../lambdas/smartcar/errors.js';
import { MAX_VEHICLES_PER_GRANT, type SmartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecret } from '../../lambdas/smartcar/secret.js';
import { startFakeSmartcarGateway, type FakeSmartcarGateway } from '../support/fake-smartcar-sdk.js';

/** The gateway over the REAL smartcar SDK against the fake Smartcar (loopback). */

let fake: FakeSmartcar;
let redirectUri: string;
let current: SmartcarSecret = { clientId: 'client', clientSecret: 'right', managementToken: 'amt' };
let gateway: SmartcarGateway;
let harness: FakeSmartcarGateway;
const limit = () => deadline({ perCallMs: 5_000, endsAt: Date.now() + 20_000 });

beforeAll(async () => {
  harness = await startFakeSmartcarGateway(current, () => current);
  ({ fake, redirectUri, gateway } = harness);
});

afterAll(() => harness?.stop());

async function login(vehicles: number) {
  const { code, vehicleIds } = fake.createAuthorizationCode({
    redirectUri,
    vehicles: Array.from({ length: vehicles }, (_, i) => ({
      make: 'KIA',
      model: `M${i}`,
      year: 2020 + (i % 5),
    })),
  });
  return { tokens: await gateway.exchangeCode(code, limit()), vehicleIds };
}

describe('smartcar gateway', () => {
  it('builds Connect URLs with or without scopes', async () => {
    const withScopes = new URL(await gateway.connectUrl(['read_vin'], 'st'));
    expect(withScopes.searchParams.get('scope')).toBe('read_vin');
    expect(withScopes.searchParams.get('mode')).toBe('test');
    const without = new URL(await gateway.connectUrl([], 'st'));
    expect(without.searchParams.has('scope')).toBe(false);
    expect(without.searchParams.get('state')).toBe('st');
  });

  it('pages through every vehicle (50 per page) and reads attributes', async () => {
    const { tokens, vehicleIds } = await login(120);
    fake.clearCalls();
    const ids = await gateway.listVehicleIds(tokens.accessToken, limit());
    expect(ids).toEqual(vehicleIds);
    expect(fake.calls.filter((c) => c.route === 'vehicles').map((c) => c.query)).toEqual([
      { limit: '50', offset: '0' },
      { limit: '50', offset: '50' },
      { limit: '50', offset: '100' },
    ]);
    const info = await gateway.vehicleAttributes(tokens.accessToken, ids.slice(0, 7), limit());
    expect(info.map((v) => v.vehicleId)).toEqual(ids.slice(0, 7));
    expect(info[3]).toEqual({ vehicleId: ids[3], make: 'KIA', model: 'M3', year: 2023 });
    expect(typeof (await gateway.getUserId(tokens.accessToken, limit()))).toBe('string');
    expect(tokens.refreshExpiresAt - Date.now()).toBeGreaterThan(59 * 24 * 3600 * 1000);
  });

  it('refuses a grant with more vehicles than it can process in one callback', async () => {
    const { tokens } = await login(MAX_VEHICLES_PER_GRANT + 1);
    await expect(gateway.listVehicleIds(tokens.accessToken, limit())).rejects.toBeInstanceOf(
      TooManyVehiclesError,
    );
  });

  it('picks up a changed client secret without a restart', async () => {
    current = { ...current, clientSecret: 'wrong' };
    const { code } = fake.createAuthorizationCode({ redirectUri });
    const error = await gateway.exchangeCode(code, limit()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(smartcar.SmartcarError);
    expect(describeSmartcarError(error)).toMatchObject({ statusCode: 401, type: 'invalid_client' });
    current = { ...current, clientSecret: 'right' };
    expect((await gateway.exchangeCode(code, limit())).accessToken).toBeTruthy();
  });

  it('deleteConnections sends vehicle and user, with the AMT', async () => {
    const { tokens, vehicleIds } = await login(2);
    const userId = await gateway.getUserId(tokens.accessToken, limit());
    const result = await gateway.deleteConnections({ vehicleId: vehicleIds[0] ?? '', userId }, 2_000);
    expect(result).toEqual({ deleted: 1 });
    expect(fake.calls.at(-1)).toMatchObject({
      route: 'management',
      status: 200,
      query: { vehicle_id: vehicleIds[0], user_id: userId },
    });
  });
});
