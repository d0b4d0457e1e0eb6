import smartcar, { type AuthClient, type ConnectMode } from 'smartcar';
import { mapWithLimit } from '../runtime/concurrency.js';
import { TimeoutError, withTimeout, type Deadline } from '../runtime/deadline.js';
import { classifyTokenExchangeError, SmartcarManagementError, TooManyVehiclesError } from './errors.js';
import type { SmartcarSecret, SmartcarSecretSource } from './secret.js';

/**
 * Everything the OAuth Lambdas ask of Smartcar, on top of the `smartcar` SDK (v10.4). The SDK reads
 * `SMARTCAR_AUTH_ORIGIN` when an AuthClient is constructed and `SMARTCAR_API_ORIGIN` on each call, so tests and
 * local mode point it at the fake through the environment alone.
 *
 * Tokens pass through here as arguments and results only: nothing in this module logs, and the errors it
 * throws carry Smartcar's error fields, never a request (whose headers hold the tokens).
 */

/** The pair a code exchange returns, with both expiries as epoch ms. */
export interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly accessExpiresAt: number;
  readonly refreshExpiresAt: number;
}

export interface VehicleInfo {
  readonly vehicleId: string;
  readonly make: string | null;
  readonly model: string | null;
  readonly year: number | null;
}

/**
 * Filter of a Management API connection deletion. Both ids, always: only that user's connection of that
 * vehicle. (A `vehicle_id` alone would delete the vehicle's connections of every user of the application.)
 */
export interface ConnectionFilter {
  readonly vehicleId: string;
  readonly userId: string;
}

/** One connection of the application at Smartcar (`GET /management/connections`). */
export interface SmartcarConnection {
  readonly userId: string;
  readonly vehicleId: string;
  /** Epoch ms; NaN when Smartcar sent none or an unreadable one. */
  readonly connectedAt: number;
}

export interface ConnectionPage {
  readonly connections: readonly SmartcarConnection[];
  /** Opaque cursor of the next page; undefined on the last one. */
  readonly cursor?: string;
}

export interface SmartcarGateway {
  /** The Connect URL (no request is made). An empty `scopes` sends none: Connect uses the Dashboard's. */
  connectUrl(scopes: readonly string[], state: string): Promise<string>;
  exchangeCode(code: string, deadline: Deadline): Promise<TokenSet>;
  /**
   * `AuthClient.exchangeRefreshToken` under `deadline`. Smartcar rotates the refresh token: the one passed in
   * stops working about a minute later, so the caller must store the returned pair (token-rotation.ts).
   * Expiries are computed from `issuedAt` (the caller's clock when it sent the request, default now): access =
   * issuedAt + `expires_in`, refresh = issuedAt + 60 days; both err on the early side.
   * Every failure is a TokenExchangeError whose `kind` says what to do about it.
   */
  exchangeRefreshToken(refreshToken: string, deadline: Deadline, issuedAt?: number): Promise<TokenSet>;
  /** Every page of `GET /vehicles`, de-duplicated, in Smartcar's order. */
  listVehicleIds(accessToken: string, deadline: Deadline): Promise<string[]>;
  /** The Smartcar user id behind the token (`GET /user`). */
  getUserId(accessToken: string, deadline: Deadline): Promise<string>;
  /** `attributes()` of each vehicle, ATTRIBUTE_CONCURRENCY at a time; the first failure fails the whole call. */
  vehicleAttributes(
    accessToken: string,
    vehicleIds: readonly string[],
    deadline: Deadline,
  ): Promise<VehicleInfo[]>;
  /** Management API `DELETE /management/connections` with the AMT. Resolves on any 2xx. */
  deleteConnections(filter: ConnectionFilter, timeoutMs: number): Promise<{ deleted: number }>;
  /**
   * One page of Management API `GET /management/connections` with the AMT (what the SDK's `getConnections`
   * sends), optionally only one vehicle's or one user's.
   */
  listConnections(
    query: {
      readonly vehicleId?: string;
      readonly userId?: string;
      readonly cursor?: string;
      readonly limit?: number;
    },
    timeoutMs: number,
  ): Promise<ConnectionPage>;
}

/** Smartcar's page size maximum for `GET /vehicles`. */
export const VEHICLES_PAGE_SIZE = 50;
/** A Connect grant with more vehicles than this is refused rather than half-processed within one invocation. */
export const MAX_VEHICLES_PER_GRANT = 500;
/** Parallel `attributes()` calls: fast for a handful of vehicles, gentle on Smartcar's rate limits for many. */
export const ATTRIBUTE_CONCURRENCY = 5;
/** Page size of `GET /management/connections` (the fake, like Smartcar, accepts up to 100). */
export const CONNECTIONS_PAGE_SIZE = 100;
export const DEFAULT_MANAGEMENT_ORIGIN = 'https://management.smartcar.com';
/** Smartcar's refresh token lifetime (the SDK assumes the same; the token response does not carry it). */
export const REFRESH_TOKEN_LIFETIME_MS = 60 * 24 * 60 * 60 * 1000;

export interface SmartcarGatewayOptions {
  readonly secret: SmartcarSecretSource;
  /** Required for Connect URLs and code exchanges (disconnect needs neither). */
  readonly redirectUri?: string;
  readonly mode?: ConnectMode;
  /** Origin of the Management API; default SMARTCAR_MANAGEMENT_API_ORIGIN (as for the SDK), else Smartcar's. */
  readonly managementOrigin?: string;
  readonly fetch?: typeof fetch;
}

/**
 * Builds the gateway. The AuthClient is created from the cached secret on first use and re-created when the
 * credentials in the secret change (a rotated client secret is picked up without a deploy).
 */
export function smartcarGateway(options: SmartcarGatewayOptions): SmartcarGateway {
  let cached: { clientId: string; clientSecret: string; client: AuthClient } | undefined;
  const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));

  async function authClient(): Promise<AuthClient> {
    const { redirectUri } = options;
    if (redirectUri === undefined) throw new Error('smartcarGateway needs a redirectUri for OAuth calls');
    const secret: SmartcarSecret = await options.secret.get();
    if (cached?.clientId !== secret.clientId || cached.clientSecret !== secret.clientSecret) {
      cached = {
        clientId: secret.clientId,
        clientSecret: secret.clientSecret,
        client: new smartcar.AuthClient({
          clientId: secret.clientId,
          clientSecret: secret.clientSecret,
          // Always set: without it the SDK sends `redirect_uri=undefined` in the exchange.
          redirectUri,
          mode: options.mode ?? 'live',
        }),
      };
    }
    return cached.client;
  }

  /** A Management API request with Basic `default:<AMT>`; any non-2xx is a SmartcarManagementError. */
  async function managementRequest(
    method: 'GET' | 'DELETE',
    query: Record<string, string>,
    timeoutMs: number,
    operation: string,
  ): Promise<Record<string, unknown>> {
    const { managementToken } = await options.secret.get();
    // Like the SDK: the origin variable is read at call time, so it points at the fake wherever the SDK does.
    const origin = (
      options.managementOrigin ||
      process.env.SMARTCAR_MANAGEMENT_API_ORIGIN ||
      DEFAULT_MANAGEMENT_ORIGIN
    ).replace(/\/+$/, '');
    const url = new URL(`${origin}/v2.0/management/connections`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const credentials = Buffer.from(`default:${managementToken}`).toString('base64');
    const response = await withTimeout(
      fetchImpl(url, {
        method,
        headers: { authorization: `Basic ${credentials}`, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      }),
      timeoutMs,
      operation,
    ).catch((error: unknown) => {
      // AbortSignal.timeout rejects with a DOMException named TimeoutError: report it as ours.
      if (error instanceof Error && error.name === 'TimeoutError' && !(error instanceof TimeoutError)) {
        throw new TimeoutError(operation, timeoutMs);
      }
      throw error;
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // A load balancer's HTML page: keep the status only.
    }
    if (!response.ok) {
      throw new SmartcarManagementError(
        response.status,
        typeof body.type === 'string' ? body.type : undefined,
        typeof body.code === 'string' ? body.code : undefined,
        (typeof body.requestId === 'string' ? body.requestId : undefined) ??
          response.headers.get('sc-request-id') ??
          undefined,
      );
    }
    return body;
  }

  return {
    async connectUrl(scopes, state) {
      const client = await authClient();
      return scopes.length > 0 ? client.getAuthUrl([...scopes], { state }) : client.getAuthUrl({ state });
    },

    async exchangeCode(code, limit) {
      const client = await authClient();
      const access = await limit.run('exchangeCode', () => client.exchangeCode(code));
      return {
        accessToken: access.accessToken,
        refreshToken: access.refreshToken,
        accessExpiresAt: access.expiration.getTime(),
        // The SDK computes it as now + 60 days (Smartcar's refresh token lifetime).
        refreshExpiresAt: access.refreshExpiration.getTime(),
      };
    },

    async exchangeRefreshToken(refreshToken, limit, issuedAt) {
      const sentAt = issuedAt ?? Date.now();
      let access;
      try {
        // The secret read is inside: failing to get our credentials is as transient as Smartcar failing.
        const client = await authClient();
        access = await limit.run('exchangeRefreshToken', () => client.exchangeRefreshToken(refreshToken));
      } catch (error) {
        throw classifyTokenExchangeError(error);
      }
      // The SDK turns `expires_in` into now + expires_in on ITS clock when the answer arrived; taking that
      // difference right away recovers `expires_in` (to the second), which we add to when the request was sent.
      const lifetimeMs = Math.max(0, Math.round((access.expiration.getTime() - Date.now()) / 1000) * 1000);
      return {
        accessToken: access.accessToken,
        refreshToken: access.refreshToken,
        accessExpiresAt: sentAt + lifetimeMs,
        refreshExpiresAt: sentAt + REFRESH_TOKEN_LIFETIME_MS,
      };
    },

    async listVehicleIds(accessToken, limit) {
      const ids: string[] = [];
      const seen = new Set<string>();
      let offset = 0;
      // Bounded: a misbehaving paging answer cannot keep us looping.
      for (let page = 0; page <= MAX_VEHICLES_PER_GRANT / VEHICLES_PAGE_SIZE; page += 1) {
        const result = await limit.run('getVehicles', () =>
          smartcar.getVehicles(accessToken, { limit: VEHICLES_PAGE_SIZE, offset }),
        );
        const vehicles = Array.isArray(result.vehicles) ? result.vehicles : [];
        for (const id of vehicles) {
          if (typeof id === 'string' && !seen.has(id)) {
            seen.add(id);
            ids.push(id);
          }
        }
        if (ids.length > MAX_VEHICLES_PER_GRANT) throw new TooManyVehiclesError(MAX_VEHICLES_PER_GRANT);
        offset += vehicles.length;
        const total = typeof result.paging?.count === 'number' ? result.paging.count : offset;
        if (vehicles.length === 0 || offset >= total) return ids;
      }
      throw new TooManyVehiclesError(MAX_VEHICLES_PER_GRANT);
    },

    async getUserId(accessToken, limit) {
      const user = await limit.run('getUser', () => smartcar.getUser(accessToken));
      if (typeof user.id !== 'string' || user.id === '')
        throw new Error('Smartcar returned a user without id');
      return user.id;
    },

    async vehicleAttributes(accessToken, vehicleIds, limit) {
      return mapWithLimit(vehicleIds, ATTRIBUTE_CONCURRENCY, async (vehicleId) => {
        const attributes = await limit.run('attributes', () =>
          new smartcar.Vehicle(vehicleId, accessToken).attributes(),
        );
        return {
          vehicleId,
          make: typeof attributes.make === 'string' ? attributes.make : null,
          model: typeof attributes.model === 'string' ? attributes.model : null,
          year:
            typeof attributes.year === 'number' && Number.isInteger(attributes.year) ? attributes.year : null,
        };
      });
    },

    /**
     * Called over HTTP directly rather than through `smartcar.deleteConnections`: SDK 10.4 refuses a filter with
     * both `vehicle_id` and `user_id`, and the API needs both to delete only this user's connection of the
     * vehicle (a vehicle id alone removes the vehicle's connections of every user of the application).
     */
    async deleteConnections(filter, timeoutMs) {
      const body = await managementRequest(
        'DELETE',
        { vehicle_id: filter.vehicleId, user_id: filter.userId },
        timeoutMs,
        'deleteConnections',
      );
      return { deleted: Array.isArray(body.connections) ? body.connections.length : 0 };
    },

    /** The same request as the SDK's `getConnections`, through the same client as the deletion. */
    async listConnections(query, timeoutMs) {
      const body = await managementRequest(
        'GET',
        {
          ...(query.vehicleId !== undefined && { vehicle_id: query.vehicleId }),
          ...(query.userId !== undefined && { user_id: query.userId }),
          ...(query.cursor !== undefined && { cursor: query.cursor }),
          limit: String(query.limit ?? CONNECTIONS_PAGE_SIZE),
        },
        timeoutMs,
        'getConnections',
      );
      const connections: SmartcarConnection[] = [];
      for (const entry of Array.isArray(body.connections) ? (body.connections as unknown[]) : []) {
        if (typeof entry !== 'object' || entry === null) continue;
        const { userId, vehicleId, connectedAt } = entry as Record<string, unknown>;
        if (typeof userId !== 'string' || typeof vehicleId !== 'string') continue;
        connections.push({
          userId,
          vehicleId,
          connectedAt: typeof connectedAt === 'string' ? Date.parse(connectedAt) : Number.NaN,
        });
      }
      const paging = body.paging as { cursor?: unknown } | undefined;
      const cursor = typeof paging?.cursor === 'string' && paging.cursor !== '' ? paging.cursor : undefined;
      return { connections, ...(cursor !== undefined && { cursor }) };
    },
  };
}
