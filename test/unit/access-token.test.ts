import { describe, expect, it, vi } from 'vitest';
import {
  AccessTokenUnavailableError,
  createAccessTokenProvider,
  GrantNeedsReauthError,
  VehicleNotConnectedError,
} from '../../lambdas/tokens/access-token.js';
import type { RotationResult, TokenRotation } from '../../lambdas/tokens/token-rotation.js';
import type { GrantRecord } from '../../lambdas/tokens/grant.js';
import type { ProfileLink } from '../../lambdas/vehicles/vehicle-links.js';

/** getAccessToken's decisions with the stores and the rotation stubbed. */

const NOW = 1_770_000_000_000;
const MINUTE = 60_000;

const grant = (overrides: Partial<GrantRecord> = {}): GrantRecord => ({
  grantId: 'grant-1',
  appUserId: 'app-1',
  smartcarUserId: 'sc-1',
  keyId: 'key',
  accessExpiresAt: NOW + 60 * MINUTE,
  refreshExpiresAt: NOW + 30 * 24 * 60 * MINUTE,
  version: 1,
  vehicleIds: ['veh-1'],
  status: 'ACTIVE',
  scopes: [],
  createdAt: 0,
  updatedAt: 0,
  ...overrides,
});

function setup(options: {
  profile?: ProfileLink | undefined;
  reads: { grant: GrantRecord; accessToken: string }[];
  rotate?: () => Promise<RotationResult>;
}) {
  let time = NOW;
  const reads = [...options.reads];
  const readAccessToken = vi.fn(() => Promise.resolve(reads.length > 1 ? reads.shift() : reads[0]));
  const rotation: TokenRotation = {
    rotate: vi.fn(options.rotate ?? (() => Promise.reject(new Error('no rotation expected')))),
  };
  const sleeps: number[] = [];
  const provider = createAccessTokenProvider({
    links: {
      getProfile: () =>
        Promise.resolve(
          'profile' in options
            ? options.profile
            : { vehicleId: 'veh-1', grantId: 'grant-1', status: 'CONNECTED' },
        ),
    },
    tokens: { readAccessToken },
    rotation,
    clock: () => time,
    sleep: (ms) => {
      sleeps.push(ms);
      time += ms;
      return Promise.resolve();
    },
    budgetMs: 10_000,
  });
  return { provider, rotation, readAccessToken, sleeps };
}

describe('getAccessToken', () => {
  it('returns the stored token while it is valid for more than 5 minutes, without a rotation', async () => {
    const { provider, rotation } = setup({ reads: [{ grant: grant(), accessToken: 'a1' }] });
    expect(await provider.getAccessToken('veh-1')).toEqual({
      accessToken: 'a1',
      expiresAt: NOW + 60 * MINUTE,
      grantId: 'grant-1',
    });
    expect(rotation.rotate).not.toHaveBeenCalled();
  });

  it('refreshes through the rotation when the token expires within 5 minutes', async () => {
    const rotated = grant({ version: 2, accessExpiresAt: NOW + 120 * MINUTE });
    const { provider, rotation } = setup({
      reads: [{ grant: grant({ accessExpiresAt: NOW + 4 * MINUTE }), accessToken: 'a1' }],
      rotate: () =>
        Promise.resolve({
          outcome: 'rotated',
          grant: rotated,
          resumed: false,
          tokens: {
            accessToken: 'a2',
            refreshToken: 'r2',
            accessExpiresAt: rotated.accessExpiresAt,
            refreshExpiresAt: rotated.refreshExpiresAt,
          },
        }),
    });
    expect(await provider.getAccessToken('veh-1')).toEqual({
      accessToken: 'a2',
      expiresAt: NOW + 120 * MINUTE,
      grantId: 'grant-1',
    });
    expect(vi.mocked(rotation.rotate).mock.calls[0]?.[0]).toMatchObject({
      grantId: 'grant-1',
      version: 1,
      now: NOW,
      claimant: 'access',
    });
  });

  it('while someone else holds the claim it waits for their write instead of calling Smartcar', async () => {
    const { provider, rotation, sleeps } = setup({
      reads: [
        {
          grant: grant({ accessExpiresAt: NOW + MINUTE, leaseOwner: 'job', leaseUntil: NOW + 60_000 }),
          accessToken: 'a1',
        },
        {
          grant: grant({ accessExpiresAt: NOW + MINUTE, leaseOwner: 'job', leaseUntil: NOW + 60_000 }),
          accessToken: 'a1',
        },
        { grant: grant({ version: 2, accessExpiresAt: NOW + 120 * MINUTE }), accessToken: 'a2' },
      ],
    });
    expect((await provider.getAccessToken('veh-1')).accessToken).toBe('a2');
    expect(rotation.rotate).not.toHaveBeenCalled();
    expect(sleeps).toEqual([100, 200]);
  });

  it('a lost claim race also waits for the winner', async () => {
    const { provider, rotation } = setup({
      reads: [
        { grant: grant({ accessExpiresAt: NOW + MINUTE }), accessToken: 'a1' },
        { grant: grant({ version: 2, accessExpiresAt: NOW + 120 * MINUTE }), accessToken: 'a2' },
      ],
      rotate: () => Promise.resolve({ outcome: 'skipped', reason: 'claimed_elsewhere' }),
    });
    expect((await provider.getAccessToken('veh-1')).accessToken).toBe('a2');
    expect(rotation.rotate).toHaveBeenCalledTimes(1);
  });

  it('when the refresh fails, a token valid for at least 30 s more is still returned; else it throws', async () => {
    const throttled = () => Promise.resolve({ outcome: 'throttled' } as RotationResult);
    const stillValid = setup({
      reads: [{ grant: grant({ accessExpiresAt: NOW + 2 * MINUTE }), accessToken: 'a1' }],
      rotate: throttled,
    });
    expect((await stillValid.provider.getAccessToken('veh-1')).accessToken).toBe('a1');
    const expired = setup({
      reads: [{ grant: grant({ accessExpiresAt: NOW - 1 }), accessToken: 'a1' }],
      rotate: throttled,
    });
    await expect(expired.provider.getAccessToken('veh-1')).rejects.toBeInstanceOf(
      AccessTokenUnavailableError,
    );
  });

  it('gives up waiting at its budget', async () => {
    const held = {
      grant: grant({ accessExpiresAt: NOW - 1, leaseUntil: NOW + 10 * MINUTE }),
      accessToken: 'a1',
    };
    const { provider } = setup({ reads: [held] });
    await expect(provider.getAccessToken('veh-1')).rejects.toMatchObject({
      name: 'AccessTokenUnavailableError',
      reason: 'refresh_in_progress',
    });
  });

  it('NEEDS_REAUTH and unconnected vehicles are errors of their own', async () => {
    const reauth = setup({ reads: [{ grant: grant({ status: 'NEEDS_REAUTH' }), accessToken: 'a1' }] });
    await expect(reauth.provider.getAccessToken('veh-1')).rejects.toBeInstanceOf(GrantNeedsReauthError);
    const rejected = setup({
      reads: [{ grant: grant({ accessExpiresAt: NOW }), accessToken: 'a1' }],
      rotate: () => Promise.resolve({ outcome: 'needs_reauth', reason: 'invalid_grant' }),
    });
    await expect(rejected.provider.getAccessToken('veh-1')).rejects.toBeInstanceOf(GrantNeedsReauthError);
    for (const profile of [
      undefined,
      { vehicleId: 'veh-1' },
      { vehicleId: 'veh-1', grantId: 'grant-1', status: 'DISCONNECTED' },
    ]) {
      const { provider } = setup({ profile, reads: [{ grant: grant(), accessToken: 'a1' }] });
      await expect(provider.getAccessToken('veh-1')).rejects.toBeInstanceOf(VehicleNotConnectedError);
    }
    // The profile points at a grant that no longer lists the vehicle (a re-link in flight).
    const moved = setup({ reads: [{ grant: grant({ vehicleIds: ['other'] }), accessToken: 'a1' }] });
    await expect(moved.provider.getAccessToken('veh-1')).rejects.toBeInstanceOf(VehicleNotConnectedError);
  });
});
