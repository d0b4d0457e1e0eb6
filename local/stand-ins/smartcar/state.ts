import { randomInt, randomUUID } from 'node:crypto';
import type {
  FakeConnection,
  FakeSmartcarCall,
  FakeSmartcarOptions,
  FakeSubscription,
  FakeUser,
  FakeVehicle,
  FakeVehicleInit,
  NextAuthorization,
  RefreshTokenState,
} from './types.js';

/**
 * What the fake Smartcar remembers, shared by its API surfaces: users and their vehicles, grants with their
 * codes and tokens, connections, the Connect queue, the clock and the recorded calls. Everything in memory.
 */

/** What one Connect approval authorized; codes and tokens point at it. */
export interface Grant {
  readonly id: string;
  readonly userId: string;
  readonly vehicleIds: readonly string[];
  readonly scope: readonly string[];
}

export interface CodeRecord {
  readonly grantId: string;
  readonly redirectUri: string;
  readonly expiresAt: number;
  used: boolean;
}

export interface AccessRecord {
  readonly grantId: string;
  readonly expiresAt: number;
}

export interface RefreshRecord {
  readonly grantId: string;
  readonly expiresAt: number;
  /** When it was first exchanged; it keeps working until `rotatedAt + grace`. */
  rotatedAt: number | undefined;
}

/** A Connect page shown and waiting for Allow or Deny. */
export interface ConnectSession {
  readonly redirectUri: string;
  readonly state: string | undefined;
  readonly grant: Grant;
  readonly expiresAt: number;
}

/** The options with their defaults applied, durations in ms. */
export interface Settings {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly managementToken: string;
  readonly redirectUris: readonly string[] | undefined;
  readonly accessTtlMs: number;
  readonly refreshTtlMs: number;
  readonly codeTtlMs: number;
  readonly graceMs: number;
  readonly autoApprove: boolean;
  readonly defaultScope: readonly string[];
  readonly defaultVehicles: readonly FakeVehicleInit[] | undefined;
}

export interface SmartcarState {
  readonly settings: Settings;
  readonly now: () => number;
  advanceClock(ms: number): void;
  setClock(time: number | Date | null): void;
  readonly users: Map<string, FakeUser>;
  readonly grants: Map<string, Grant>;
  readonly codes: Map<string, CodeRecord>;
  readonly accessTokens: Map<string, AccessRecord>;
  readonly refreshTokens: Map<string, RefreshRecord>;
  readonly sessions: Map<string, ConnectSession>;
  /** Keyed by `connectionKey(userId, vehicleId)`. */
  readonly connections: Map<string, FakeConnection>;
  /** Webhook subscriptions, keyed by `<vehicleId> <webhookId>`. */
  readonly subscriptions: Map<string, FakeSubscription>;
  /** What the next Connect visits authorize, first in, first out. */
  readonly queue: NextAuthorization[];
  /** Grants whose next vehicle list fails (`NextAuthorization.failVehicleList`). */
  readonly failingVehicleLists: Set<string>;
  readonly calls: FakeSmartcarCall[];
  registerUser(init?: { readonly id?: string; readonly vehicles?: readonly FakeVehicleInit[] }): FakeUser;
  findVehicle(vehicleId: string): FakeVehicle | undefined;
  /** The grant's vehicles that are still connected (deleteConnections removes them). */
  liveVehicleIds(grant: Grant): string[];
  refreshState(token: string): RefreshTokenState;
}

const DAY_SECONDS = 24 * 60 * 60;
const SAMPLE_VEHICLES: readonly Omit<FakeVehicle, 'id' | 'vin'>[] = [
  { make: 'TESLA', model: 'Model 3', year: 2021 },
  { make: 'FORD', model: 'Mustang Mach-E', year: 2022 },
  { make: 'VOLKSWAGEN', model: 'ID.4', year: 2023 },
  { make: 'HYUNDAI', model: 'IONIQ 5', year: 2023 },
];

export const connectionKey = (userId: string, vehicleId: string) => `${userId}\u0000${vehicleId}`;

function randomVin(): string {
  // VINs never use I, O or Q.
  const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
  return Array.from({ length: 17 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

function makeVehicle(init: FakeVehicleInit = {}): FakeVehicle {
  const sample = SAMPLE_VEHICLES[randomInt(SAMPLE_VEHICLES.length)] ?? {
    make: 'TESLA',
    model: 'Model 3',
    year: 2021,
  };
  return {
    id: init.id ?? randomUUID(),
    make: init.make ?? sample.make,
    model: init.model ?? sample.model,
    year: init.year ?? sample.year,
    vin: init.vin ?? randomVin(),
  };
}

export function createState(options: FakeSmartcarOptions): SmartcarState {
  const settings: Settings = {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    managementToken: options.managementToken,
    redirectUris: options.redirectUris,
    accessTtlMs: (options.accessTokenTtlSeconds ?? 7200) * 1000,
    refreshTtlMs: (options.refreshTokenTtlSeconds ?? 60 * DAY_SECONDS) * 1000,
    codeTtlMs: (options.codeTtlSeconds ?? 600) * 1000,
    graceMs: (options.refreshReuseGraceSeconds ?? 60) * 1000,
    autoApprove: options.autoApprove === true,
    defaultScope: options.defaultScope ?? ['read_vehicle_info', 'read_vin'],
    defaultVehicles: options.defaultVehicles,
  };

  const baseNow = options.now ?? Date.now;
  let frozenAt: number | undefined;
  let offset = 0;
  const now = () => frozenAt ?? baseNow() + offset;

  const users = new Map<string, FakeUser>();
  const grants = new Map<string, Grant>();
  const refreshTokens = new Map<string, RefreshRecord>();
  const connections = new Map<string, FakeConnection>();

  const liveVehicleIds = (grant: Grant) =>
    grant.vehicleIds.filter((id) => connections.has(connectionKey(grant.userId, id)));

  return {
    settings,
    now,
    advanceClock: (ms) => {
      if (frozenAt !== undefined) frozenAt += ms;
      else offset += ms;
    },
    setClock: (time) => {
      if (time === null) {
        frozenAt = undefined;
        offset = 0;
      } else {
        frozenAt = typeof time === 'number' ? time : time.getTime();
      }
    },
    users,
    grants,
    codes: new Map(),
    accessTokens: new Map(),
    refreshTokens,
    sessions: new Map(),
    connections,
    subscriptions: new Map(),
    queue: [],
    failingVehicleLists: new Set(),
    calls: [],
    registerUser: (init = {}) => {
      const vehicleInits = init.vehicles ?? settings.defaultVehicles ?? [{}];
      const user: FakeUser = {
        id: init.id ?? randomUUID(),
        vehicles: vehicleInits.map((v) => makeVehicle(v)),
      };
      users.set(user.id, user);
      return user;
    },
    findVehicle: (vehicleId) => {
      for (const user of users.values()) {
        const vehicle = user.vehicles.find((v) => v.id === vehicleId);
        if (vehicle) return vehicle;
      }
      return undefined;
    },
    liveVehicleIds,
    refreshState: (token) => {
      const record = refreshTokens.get(token);
      if (!record) return 'unknown';
      const grant = grants.get(record.grantId);
      if (!grant || liveVehicleIds(grant).length === 0) return 'revoked';
      if (now() >= record.expiresAt) return 'expired';
      if (record.rotatedAt === undefined) return 'active';
      return now() < record.rotatedAt + settings.graceMs ? 'grace' : 'rotated';
    },
  };
}
