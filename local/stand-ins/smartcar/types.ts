/**
 * The public types of the fake Smartcar: its options, the handle `startFakeSmartcar` returns, and what tests
 * read back from it (recorded calls, connections, refresh-token states).
 */

export type FakeSmartcarRoute =
  | 'connect'
  | 'token'
  | 'user'
  | 'vehicles'
  | 'vehicle'
  | 'management'
  /** `POST /v2.0/vehicles/{id}/security`, `/charge`, `/charge/limit`. */
  | 'command'
  /** `GET /v2.0/vehicles/{id}/permissions`. */
  | 'permissions'
  /** The fake's own `/fake/…` control endpoints (local mode). */
  | 'control'
  | 'subscribe'
  | 'unsubscribe';

/** The `error` values Connect can send back to the redirect URI. */
export type ConnectError =
  | 'access_denied'
  | 'configuration_error'
  | 'invalid_subscription'
  | 'no_vehicles'
  | 'server_error'
  | 'vehicle_incompatible';

export interface FakeVehicleInit {
  readonly id?: string;
  readonly make?: string;
  readonly model?: string;
  readonly year?: number;
  readonly vin?: string;
}

export interface FakeVehicle {
  readonly id: string;
  readonly make: string;
  readonly model: string;
  readonly year: number;
  readonly vin: string;
}

export interface FakeUser {
  readonly id: string;
  readonly vehicles: readonly FakeVehicle[];
}

/** Who (and what) the next Connect approval authorizes, or which error Connect returns instead. */
export interface NextAuthorization {
  /** An existing user (see `registerUser`); without it a new user is created. */
  readonly userId?: string;
  /** Vehicles of the new user (ignored with `userId`); defaults to `options.defaultVehicles`. */
  readonly vehicles?: readonly FakeVehicleInit[];
  /** Authorize only these of the user's vehicles; default all of them. */
  readonly vehicleIds?: readonly string[];
  /** Send the user back with this Connect error instead of a code. */
  readonly error?: ConnectError;
  /**
   * The first `GET /vehicles` with this authorization's access token answers 500 (after the code exchange
   * succeeded): what leaves a Connect half-done. The Connect page's `fake_fail=vehicles` does the same.
   */
  readonly failVehicleList?: boolean;
}

export interface FakeSmartcarOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The Application Management Token (AMT) the management API accepts as Basic `default:<AMT>`. */
  readonly managementToken: string;
  /**
   * Redirect URIs "registered in the dashboard": Connect and the code exchange accept only these. When
   * omitted, any absolute http(s) URI is accepted (handy for tests on random ports).
   */
  readonly redirectUris?: readonly string[];
  /** Access token lifetime, default 7200 s (2 h) like Smartcar. */
  readonly accessTokenTtlSeconds?: number;
  /** Refresh token lifetime, default 60 days like Smartcar. */
  readonly refreshTokenTtlSeconds?: number;
  /** Authorization code lifetime, default 600 s. */
  readonly codeTtlSeconds?: number;
  /**
   * How long a refresh token keeps working after it was exchanged, default 60 s; 0 makes it strictly
   * single-use. The window exists so that a crash between Smartcar rotating the token and us persisting the
   * new one can be recovered by retrying with the old one.
   */
  readonly refreshReuseGraceSeconds?: number;
  /** Approve every Connect request without showing the page (as if `fake_auto=1` were always set). */
  readonly autoApprove?: boolean;
  /** Vehicles given to users created on the fly by Connect; default one random vehicle. */
  readonly defaultVehicles?: readonly FakeVehicleInit[];
  /** Permissions granted when the Connect URL has no `scope` (Smartcar then uses the dashboard's). */
  readonly defaultScope?: readonly string[];
  /** Base clock (epoch ms); `advanceClock` / `setClock` work on top of it. */
  readonly now?: () => number;
  /** Receives one line per request (local mode prints them); secrets are not included. */
  readonly log?: (line: string) => void;
}

/** One request the fake received, recorded before it answered. */
export interface FakeSmartcarCall {
  /** Fake clock (epoch ms). */
  readonly at: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly route: FakeSmartcarRoute | 'unknown';
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  readonly requestId: string;
  /** True when the answer came from `failNext` or `setDown`. */
  readonly injected: boolean;
  /** Token endpoint: the `grant_type`, `code` and `refresh_token` form fields. */
  readonly grantType?: string;
  readonly code?: string;
  readonly refreshToken?: string;
  /** Bearer token on API calls (the management token on an unsubscribe). */
  readonly accessToken?: string;
  /** OAuth `error`, v2 error `type`, or Connect `error` that was returned. */
  readonly error?: string;
}

export interface FailureOptions {
  /** Sent as `Retry-After` (seconds or an HTTP date). */
  readonly retryAfter?: number | string;
  readonly headers?: Readonly<Record<string, string>>;
  /** How many consecutive requests to the route fail this way; default 1. */
  readonly times?: number;
}

/**
 * A Smartcar error the next command(s) to one vehicle answer: a VEHICLE_STATE code (`DOOR_OPEN`, `IN_MOTION`,
 * `ASLEEP`, `UNREACHABLE`, …), `RATE_LIMIT` (429 with `Retry-After`), `VIRTUAL_KEY_REQUIRED` (Tesla, with the
 * resolution URL), `BILLING`, `COMPATIBILITY`, `SERVER`, `UPSTREAM`, or `TIMEOUT`: the command is carried out
 * but answered only after `delayMs` (default 40 s, past any caller's timeout).
 */
export interface CommandFailure {
  readonly error: string;
  readonly delayMs?: number;
  /** Seconds, for RATE_LIMIT (default 60). */
  readonly retryAfter?: number;
  /** Consecutive commands that fail this way; default 1. */
  readonly times?: number;
}

/** What the fake's commands changed on a vehicle. */
export interface FakeVehicleState {
  readonly isLocked: boolean;
  readonly isCharging: boolean;
  readonly chargeLimit: number;
}

export interface DownOptions {
  /** Default 500 with a JSON `SERVER` error, or 503 with an HTML page when `html` is set. */
  readonly status?: number;
  /** Answer `text/html` like a load balancer would, instead of a Smartcar JSON error. */
  readonly html?: boolean;
  /** Default `['management']`. */
  readonly routes?: readonly FakeSmartcarRoute[];
}

/**
 * `grace`: already exchanged but still accepted (within `refreshReuseGraceSeconds` of its first use);
 * `rotated`: exchanged and past the grace window; `revoked`: all its vehicle connections were deleted.
 */
export type RefreshTokenState = 'active' | 'grace' | 'rotated' | 'expired' | 'revoked' | 'unknown';

export interface FakeConnection {
  readonly userId: string;
  readonly vehicleId: string;
  readonly connectedAt: string;
}

/** A vehicle's subscription to a webhook (`vehicle.subscribe(webhookId)`). */
export interface FakeSubscription {
  readonly vehicleId: string;
  readonly webhookId: string;
  /** Fake clock (epoch ms) of the first subscribe. */
  readonly subscribedAt: number;
}

export interface FakeSmartcar {
  /** `http://host:port`, the origin for all three SDK origin variables. */
  readonly url: string;
  readonly port: number;
  /** The environment variables that point the `smartcar` SDK at this fake. */
  readonly env: {
    readonly SMARTCAR_AUTH_ORIGIN: string;
    readonly SMARTCAR_API_ORIGIN: string;
    readonly SMARTCAR_MANAGEMENT_API_ORIGIN: string;
  };
  /** Requests received, oldest first. */
  readonly calls: readonly FakeSmartcarCall[];
  clearCalls(): void;
  /** Creates (or replaces) a user with vehicles, for `NextAuthorization.userId` or `fake_user=`. */
  registerUser(init?: { readonly id?: string; readonly vehicles?: readonly FakeVehicleInit[] }): FakeUser;
  /** Queues what the next Connect visit authorizes (first in, first out). */
  nextAuthorization(next: NextAuthorization): void;
  /**
   * Issues a code as if Connect had been approved, without the HTTP round trip. Returns the code and the
   * user it authorizes.
   */
  createAuthorizationCode(
    input: Omit<NextAuthorization, 'error'> & {
      readonly redirectUri: string;
      readonly scope?: readonly string[];
    },
  ): { code: string; userId: string; vehicleIds: readonly string[] };
  /** Makes the next request(s) to `route` answer `status` with `body` (default: a Smartcar-shaped error). */
  failNext(route: FakeSmartcarRoute, status: number, body?: unknown, options?: FailureOptions): void;
  /** Queues a Smartcar error (or a slow answer) for the vehicle's next command(s). */
  failCommand(vehicleId: string, failure: CommandFailure): void;
  /** Lock, charging and charge limit as the fake's commands left them (locked, not charging, 0.8 at first). */
  vehicleState(vehicleId: string): FakeVehicleState;
  /** Takes routes (default the management API) down or brings them back. */
  setDown(down: boolean, options?: DownOptions): void;
  /** The fake's clock (epoch ms). */
  now(): number;
  advanceClock(ms: number): void;
  /** Freezes the clock at a time; `null` goes back to the real clock. */
  setClock(time: number | Date | null): void;
  connections(): readonly FakeConnection[];
  /** Current webhook subscriptions, in the order they were made. */
  subscriptions(): readonly FakeSubscription[];
  refreshTokenState(refreshToken: string): RefreshTokenState;
  stop(): Promise<void>;
}
