/**
 * Hand-written declarations for the parts of the `smartcar` SDK (v10.4, CommonJS, ships no typings) that this
 * project uses. Written against `node_modules/smartcar/index.js` and `lib/*.js`; re-check them when the SDK is
 * upgraded.
 *
 * Only a default export is declared on purpose: the package does `module.exports = smartcar` with an object
 * built at run time, so Node's ESM loader cannot detect named exports and `import { AuthClient } from
 * 'smartcar'` would be `undefined` at run time even though a bundler would accept it. Use
 * `import smartcar from 'smartcar'` and `smartcar.AuthClient`; the types are exported by name for annotations.
 *
 * Environment variables the SDK reads (all through `process.env` at call time, none at module load):
 * - `SMARTCAR_AUTH_ORIGIN`: read once in the `AuthClient` constructor (token endpoint origin).
 * - `SMARTCAR_API_ORIGIN`: read by every `getAuthUrl` (as the Connect origin), `getUser`, `getVehicles`
 *   call, and in the `Vehicle` constructor.
 * - `SMARTCAR_MANAGEMENT_API_ORIGIN`: read by every `getConnections` / `deleteConnections` call.
 * - `SMARTCAR_CLIENT_ID` / `SMARTCAR_CLIENT_SECRET`: fallbacks when the options omit them.
 */
declare module 'smartcar' {
  /** Response metadata the SDK builds from `sc-*` headers (v2 API). */
  export interface Meta {
    requestId?: string;
    dataAge?: Date;
    unitSystem?: string;
    fetchedAt?: Date;
  }

  /**
   * What `exchangeCode` / `exchangeRefreshToken` return. Both dates are computed from the local clock:
   * `expiration` = now + `expires_in`; `refreshExpiration` is always now + 60 days (the SDK ignores any
   * refresh lifetime in the response).
   */
  export interface Access {
    accessToken: string;
    refreshToken: string;
    expiration: Date;
    refreshExpiration: Date;
  }

  export type ConnectMode = 'live' | 'test' | 'simulated';

  export interface AuthClientOptions {
    /** Falls back to `SMARTCAR_CLIENT_ID`; the constructor throws if neither is set. */
    clientId?: string;
    /** Falls back to `SMARTCAR_CLIENT_SECRET`; the constructor throws if neither is set. */
    clientSecret?: string;
    /**
     * Sent in the Connect URL and in the code exchange. If it is omitted, `exchangeCode` sends the literal
     * string `redirect_uri=undefined`, so always set it.
     */
    redirectUri?: string;
    /** Defaults to `'live'`; anything else than the three modes throws. */
    mode?: ConnectMode;
  }

  export interface AuthUrlOptions {
    /** `approval_prompt=force` when true, `auto` otherwise. */
    forcePrompt?: boolean;
    state?: string;
    /** Must be an object: the SDK ignores a bare boolean here. */
    singleSelect?: { enabled?: boolean; vin?: string };
    /** Sent as `make`. */
    makeBypass?: string;
    /** Sent as `flags=key:value key:value`. */
    flags?: Record<string, string | boolean>;
    user?: string;
  }

  export interface FlagsOptions {
    flags?: Record<string, string | boolean>;
  }

  /**
   * OAuth client. Keeps the client secret and a ready-made Basic credential on the instance: never log or
   * serialise an AuthClient.
   */
  class AuthClient {
    constructor(options?: AuthClientOptions);
    readonly clientId: string;
    readonly redirectUri: string | undefined;
    readonly mode: ConnectMode;
    /** The token endpoint origin, from `SMARTCAR_AUTH_ORIGIN` at construction time. */
    readonly authUrl: string;
    /** `${SMARTCAR_API_ORIGIN ?? 'https://connect.smartcar.com'}/oauth/authorize?…`; makes no request. */
    getAuthUrl(scope?: readonly string[], options?: AuthUrlOptions): string;
    getAuthUrl(options: AuthUrlOptions): string;
    /** `POST {auth}/oauth/token` with `grant_type=authorization_code`. */
    exchangeCode(code: string, options?: FlagsOptions): Promise<Access>;
    /** `POST {auth}/oauth/token` with `grant_type=refresh_token`. */
    exchangeRefreshToken(refreshToken: string, options?: FlagsOptions): Promise<Access>;
  }

  export interface VehicleAttributes {
    id: string;
    make: string;
    model: string;
    year: number;
    meta: Meta;
  }

  export interface VehicleOptions {
    unitSystem?: 'metric' | 'imperial';
    /** API version, `'2.0'` by default. */
    version?: string;
    flags?: Record<string, string | boolean>;
  }

  /** A handle on one vehicle; the constructor makes no request. */
  class Vehicle {
    constructor(id: string, accessToken: string, options?: VehicleOptions);
    readonly id: string;
    /** `GET {api}/v2.0/vehicles/{id}/`. */
    attributes(): Promise<VehicleAttributes>;
    /** `GET {api}/v2.0/vehicles/{id}/vin`. */
    vin(): Promise<{ vin: string; meta: Meta }>;
    /** `GET {api}/v2.0/vehicles/{id}/permissions?limit=&offset=`: what the owner granted for this vehicle. */
    permissions(paging?: { limit?: number; offset?: number }): Promise<Permissions>;
    /** `POST {api}/v2.0/vehicles/{id}/security` `{"action":"LOCK"}`. */
    lock(): Promise<ActionResponse>;
    /** `POST {api}/v2.0/vehicles/{id}/security` `{"action":"UNLOCK"}`. */
    unlock(): Promise<ActionResponse>;
    /** `POST {api}/v2.0/vehicles/{id}/charge` `{"action":"START"}`. */
    startCharge(): Promise<ActionResponse>;
    /** `POST {api}/v2.0/vehicles/{id}/charge` `{"action":"STOP"}`. */
    stopCharge(): Promise<ActionResponse>;
    /** `POST {api}/v2.0/vehicles/{id}/charge/limit` `{"limit":"<String(limit)>"}`; limit is a fraction 0–1. */
    setChargeLimit(limit: number): Promise<ActionResponse>;
    /** `POST {api}/v2.0/vehicles/{id}/webhooks/{webhookId}` with the Bearer access token. */
    subscribe(webhookId: string): Promise<{ webhookId: string; vehicleId: string; meta: Meta }>;
    /** `DELETE {api}/v2.0/vehicles/{id}/webhooks/{webhookId}` with the Application Management Token as Bearer. */
    unsubscribe(amt: string, webhookId: string): Promise<{ meta: Meta }>;
  }

  export interface Permissions {
    permissions: string[];
    paging?: { count?: number; offset?: number };
    meta: Meta;
  }

  /**
   * A command's answer: Smartcar's `{status: "success", message}`. "success" means the request reached the
   * vehicle's cloud, not that the vehicle carried it out.
   */
  export interface ActionResponse {
    status?: string;
    message?: string;
    meta: Meta;
  }

  /** A resolution hint from a v2 error body, e.g. `{ type: 'RETRY_LATER' }` or `{ type: null }`. */
  export interface ErrorResolution {
    type: string | null;
    url?: string;
  }

  /**
   * Every non-2xx answer. Fields are copied from the body only when truthy, so e.g. `code: null` in a v2
   * AUTHENTICATION error leaves `code` undefined; OAuth errors (`{ error, error_description }`) surface as
   * `type` = the `error` value and `description` = `error_description`. A non-JSON body becomes the message
   * and leaves `type` undefined.
   */
  class SmartcarError extends Error {
    constructor(status: number, body: object | string, headers: Record<string, string>);
    readonly name: 'SmartcarError';
    readonly statusCode: number;
    readonly type?: string;
    readonly code?: string;
    readonly description?: string;
    readonly docURL?: string;
    readonly detail?: unknown[];
    readonly suggestedUserMessage?: string;
    /** From the body's `requestId`, else the `sc-request-id` header. */
    readonly requestId?: string;
    readonly resolution?: ErrorResolution;
    /** The raw `Retry-After` header value (a string, seconds or an HTTP date), when the answer had one. */
    readonly retryAfter?: string;
  }

  export interface VehicleIds {
    vehicles: string[];
    paging: { count: number; offset: number };
    meta: Meta;
  }

  export interface User {
    id: string;
    meta: Meta;
  }

  export interface Connection {
    userId: string;
    vehicleId: string;
  }

  export interface Connections {
    connections: (Connection & { connectedAt: string })[];
    paging?: { cursor?: string };
    meta: Meta;
  }

  export interface DeletedConnections {
    connections: Connection[];
    meta: Meta;
  }

  /** The SDK throws (before any request) when both ids are given. */
  export type ConnectionFilter =
    { userId: string; vehicleId?: never } | { vehicleId: string; userId?: never };

  interface SmartcarModule {
    readonly AuthClient: typeof AuthClient;
    readonly Vehicle: typeof Vehicle;
    readonly SmartcarError: typeof SmartcarError;
    /** `GET {api}/v2.0/user/` with the Bearer access token. */
    getUser(accessToken: string): Promise<User>;
    /** `GET {api}/v2.0/vehicles/?limit=&offset=` with the Bearer access token. */
    getVehicles(accessToken: string, paging?: { limit?: number; offset?: number }): Promise<VehicleIds>;
    /** `GET {management}/v2.0/management/connections` with Basic `default:<AMT>`. */
    getConnections(
      applicationManagementToken: string,
      filter?: { userId?: string; vehicleId?: string },
      paging?: { limit?: number; cursor?: string },
    ): Promise<Connections>;
    /** `DELETE {management}/v2.0/management/connections?vehicle_id=|user_id=` with Basic `default:<AMT>`. */
    deleteConnections(
      applicationManagementToken: string,
      filter: ConnectionFilter,
    ): Promise<DeletedConnections>;
    /** HMAC-SHA256(amt, challenge) as hex, for the webhook verification challenge. */
    hashChallenge(applicationManagementToken: string, challenge: string): string;
    /** Compares HMAC-SHA256(amt, JSON.stringify(body)) with the `SC-Signature` header (not constant-time). */
    verifyPayload(applicationManagementToken: string, signature: string, body: unknown): boolean;
    getApiVersion(): string;
  }

  const smartcar: SmartcarModule;
  export type { AuthClient, Vehicle, SmartcarError, SmartcarModule };
  export default smartcar;
}
