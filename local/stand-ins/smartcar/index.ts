import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, httpOrigin, listen, readBodyText } from '../../loopback-server.js';

/**
 * A loopback stand-in for the Smartcar HTTP APIs the OAuth feature talks to, for tests and
 * `npm start --fake-smartcar` (never bundled into a Lambda).
 *
 * It is written against what the real `smartcar` SDK (v10.4) sends, so the SDK itself can be pointed at it:
 *
 * | SDK call                          | request                                                        |
 * | --------------------------------- | -------------------------------------------------------------- |
 * | `AuthClient#getAuthUrl`           | (no request) builds `{SMARTCAR_API_ORIGIN}/oauth/authorize?…`   |
 * | `AuthClient#exchangeCode`         | `POST {SMARTCAR_AUTH_ORIGIN}/oauth/token` (form, Basic client)  |
 * | `AuthClient#exchangeRefreshToken` | `POST {SMARTCAR_AUTH_ORIGIN}/oauth/token` (form, Basic client)  |
 * | `getUser`                         | `GET {SMARTCAR_API_ORIGIN}/v2.0/user/` (Bearer)                 |
 * | `getVehicles`                     | `GET {SMARTCAR_API_ORIGIN}/v2.0/vehicles/?limit&offset` (Bearer)|
 * | `new Vehicle(id, t).attributes()` | `GET {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/` (Bearer)        |
 * | `Vehicle#vin`                     | `GET {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/vin` (Bearer)     |
 * | `getConnections`                  | `GET {MANAGEMENT}/v2.0/management/connections` (Basic AMT)      |
 * | `deleteConnections`               | `DELETE {MANAGEMENT}/v2.0/management/connections?vehicle_id=…`  |
 *
 * The SDK reads those origins from `process.env` when each call is made (`SMARTCAR_AUTH_ORIGIN` once, in the
 * `AuthClient` constructor; `SMARTCAR_API_ORIGIN` in the `Vehicle` constructor), never at module load, so
 * setting them before constructing clients is enough. One server answers all three origins: see `env`.
 *
 * Behaviour mirrors Smartcar where it matters to the token store: single-use codes bound to the redirect URI
 * (10 min), access tokens 2 h, rotating refresh tokens (60 days) whose previous value keeps working for a short
 * grace window after use, v2 error bodies (`{type, code, description, docURL, statusCode, requestId,
 * resolution}`), OAuth errors on the token endpoint (`{error, error_description}`), `sc-request-id` headers.
 * Everything lives in memory. No TLS and no authentication beyond what Smartcar checks: bind to loopback only.
 */

export type FakeSmartcarRoute = 'connect' | 'token' | 'user' | 'vehicles' | 'vehicle' | 'management';

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
  /** Bearer token on API calls. */
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
  /** Takes routes (default the management API) down or brings them back. */
  setDown(down: boolean, options?: DownOptions): void;
  /** The fake's clock (epoch ms). */
  now(): number;
  advanceClock(ms: number): void;
  /** Freezes the clock at a time; `null` goes back to the real clock. */
  setClock(time: number | Date | null): void;
  connections(): readonly FakeConnection[];
  refreshTokenState(refreshToken: string): RefreshTokenState;
  stop(): Promise<void>;
}

// --- internal state --------------------------------------------------------------------------------------

interface Grant {
  readonly id: string;
  readonly userId: string;
  readonly vehicleIds: readonly string[];
  readonly scope: readonly string[];
}

interface CodeRecord {
  readonly grantId: string;
  readonly redirectUri: string;
  readonly expiresAt: number;
  used: boolean;
}

interface AccessRecord {
  readonly grantId: string;
  readonly expiresAt: number;
}

interface RefreshRecord {
  readonly grantId: string;
  readonly expiresAt: number;
  /** When it was first exchanged; it keeps working until `rotatedAt + grace`. */
  rotatedAt: number | undefined;
}

interface ConnectSession {
  readonly redirectUri: string;
  readonly state: string | undefined;
  readonly grant: Grant;
  readonly expiresAt: number;
}

interface InjectedFailure {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  remaining: number;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Mutable per-request record; becomes a `FakeSmartcarCall` when the reply is written. */
interface Ctx {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  route: FakeSmartcarRoute | 'unknown';
  injected: boolean;
  grantType?: string;
  code?: string;
  refreshToken?: string;
  accessToken?: string;
  error?: string;
}

class HttpFailure extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

const MAX_REQUEST_BYTES = 64 * 1024;
const DAY_SECONDS = 24 * 60 * 60;
const API_VERSION = 'v2.0';
const DOCS = 'https://smartcar.com/docs/errors/api-errors';
const PERMISSION_PATTERN = /^(?:required:)?((?:read|control)_[a-z0-9_]+)$/;
const SAMPLE_VEHICLES: readonly Omit<FakeVehicle, 'id' | 'vin'>[] = [
  { make: 'TESLA', model: 'Model 3', year: 2021 },
  { make: 'FORD', model: 'Mustang Mach-E', year: 2022 },
  { make: 'VOLKSWAGEN', model: 'ID.4', year: 2023 },
  { make: 'HYUNDAI', model: 'IONIQ 5', year: 2023 },
];
const CONNECT_ERROR_DESCRIPTIONS: Record<ConnectError, string> = {
  access_denied: 'User denied access to application.',
  configuration_error: 'There has been an error in the configuration of your application.',
  invalid_subscription: "The user's vehicle does not have an active connected services subscription.",
  no_vehicles: 'There are no vehicles associated with the connected services account.',
  server_error: 'Unexpected server error. Please try again.',
  vehicle_incompatible: "The user's vehicle is not compatible.",
};

function isConnectError(value: string): value is ConnectError {
  return Object.hasOwn(CONNECT_ERROR_DESCRIPTIONS, value);
}

/** Compares secrets without leaking their length or content through timing. */
function secretEquals(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function randomVin(): string {
  // VINs never use I, O or Q.
  const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
  return Array.from({ length: 17 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function json(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'sc-request-id': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

/** Connect pages: tight CSP because they echo request parameters (escaped) back into HTML. */
function html(status: number, title: string, inner: string): Reply {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
a.button{display:inline-block;padding:.6rem 1.2rem;margin-right:1rem;border-radius:.4rem;text-decoration:none;
background:#2b5fd9;color:#fff}a.deny{background:#888}code{background:#eee;padding:0 .2rem}</style></head>
<body><h1>${escapeHtml(title)}</h1>${inner}</body></html>
`;
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    },
    body: page,
  };
}

function redirect(location: string): Reply {
  return {
    status: 302,
    headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
    body: '',
  };
}

/** A v2 API error body, as documented in Smartcar's "API Errors" reference. */
function v2Error(
  requestId: string,
  status: number,
  type: string,
  code: string | null,
  description: string,
  resolution: string | null,
  docPath: string,
): Reply {
  return json(
    status,
    {
      type,
      code,
      description,
      docURL: `${DOCS}/${docPath}`,
      statusCode: status,
      requestId,
      resolution: { type: resolution },
    },
    requestId,
  );
}

function authenticationError(requestId: string): Reply {
  return v2Error(
    requestId,
    401,
    'AUTHENTICATION',
    null,
    'The authorization header is missing or malformed, or it contains invalid or expired authentication credentials. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.',
    null,
    'authentication-errors',
  );
}

function validationError(requestId: string, description: string): Reply {
  return v2Error(requestId, 400, 'VALIDATION', 'PARAMETER', description, null, 'validation-errors#parameter');
}

/** OAuth 2.0 error (RFC 6749 §5.2) from the token endpoint; the SDK maps `error` to `SmartcarError.type`. */
function oauthError(requestId: string, status: number, error: string, description: string): Reply {
  return json(status, { error, error_description: description }, requestId, {
    'cache-control': 'no-store',
    ...(status === 401 ? { 'www-authenticate': 'Basic realm="smartcar"' } : {}),
  });
}

/** What `failNext` sends when no body is given: the error Smartcar would send for that status. */
function defaultFailureBody(route: FakeSmartcarRoute, status: number, requestId: string): unknown {
  if (route === 'token' && status === 400) {
    return { error: 'invalid_grant', error_description: 'Invalid or expired grant.' };
  }
  if (route === 'token' && status === 401) {
    return { error: 'invalid_client', error_description: 'Invalid client credentials.' };
  }
  const body = (
    type: string,
    code: string | null,
    description: string,
    resolution: string | null,
    doc: string,
  ) => ({
    type,
    code,
    description,
    docURL: `${DOCS}/${doc}`,
    statusCode: status,
    requestId,
    resolution: { type: resolution },
  });
  switch (status) {
    case 400:
      return body('VALIDATION', null, 'Request invalid or malformed.', null, 'validation-errors');
    case 401:
      return body(
        'AUTHENTICATION',
        null,
        'Invalid or expired authentication credentials.',
        null,
        'authentication-errors',
      );
    case 403:
      return body('PERMISSION', null, 'Insufficient permissions.', 'REAUTHENTICATE', 'permission-errors');
    case 404:
      return body(
        'RESOURCE_NOT_FOUND',
        'PATH',
        'The requested resource does not exist.',
        null,
        'resource-errors',
      );
    case 409:
      return body(
        'VEHICLE_STATE',
        'UNKNOWN',
        'The vehicle is in an unknown state.',
        'RETRY_LATER',
        'vehicle-state-errors',
      );
    case 429:
      return body(
        'RATE_LIMIT',
        'SMARTCAR_API',
        'You have reached the throttling rate limit for this application.',
        'RETRY_LATER',
        'rate-limit-errors#smartcar-api',
      );
    case 430:
      return body(
        'BILLING',
        'INVALID_PLAN',
        'Your plan does not allow this request.',
        'CONTACT_SUPPORT',
        'billing-errors',
      );
    case 502:
      return body(
        'UPSTREAM',
        'UNKNOWN_ISSUE',
        'The OEM failed to process the request.',
        'RETRY_LATER',
        'upstream-errors',
      );
    default:
      return body(
        'SERVER',
        'INTERNAL',
        'Smartcar ran into an unexpected issue.',
        'RETRY_LATER',
        'server-errors',
      );
  }
}

function readBody(req: IncomingMessage, requestId: string): Promise<string> {
  const tooLarge = () => new HttpFailure(validationError(requestId, 'Request body too large.'));
  return readBodyText(req, MAX_REQUEST_BYTES, tooLarge);
}

/** `Basic base64(user:password)` → [user, password]; undefined if absent or malformed. */
function basicCredentials(header: string | undefined): [string, string] | undefined {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

function singleParams(params: URLSearchParams): { values: Record<string, string>; duplicate?: string } {
  const values: Record<string, string> = {};
  let duplicate: string | undefined;
  for (const [key, value] of params) {
    if (Object.hasOwn(values, key)) duplicate ??= key;
    values[key] = value;
  }
  return duplicate === undefined ? { values } : { values, duplicate };
}

function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function nonNegativeInteger(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

export async function startFakeSmartcar(options: FakeSmartcarOptions): Promise<FakeSmartcar> {
  const host = options.host ?? '127.0.0.1';
  const accessTtlMs = (options.accessTokenTtlSeconds ?? 7200) * 1000;
  const refreshTtlMs = (options.refreshTokenTtlSeconds ?? 60 * DAY_SECONDS) * 1000;
  const codeTtlMs = (options.codeTtlSeconds ?? 600) * 1000;
  const graceMs = (options.refreshReuseGraceSeconds ?? 60) * 1000;
  const defaultScope = options.defaultScope ?? ['read_vehicle_info', 'read_vin'];
  const log = options.log ?? (() => undefined);

  // --- clock ---
  const baseNow = options.now ?? Date.now;
  let frozenAt: number | undefined;
  let offset = 0;
  const now = () => frozenAt ?? baseNow() + offset;

  // --- state ---
  const users = new Map<string, FakeUser>();
  const grants = new Map<string, Grant>();
  const codes = new Map<string, CodeRecord>();
  const accessTokens = new Map<string, AccessRecord>();
  const refreshTokens = new Map<string, RefreshRecord>();
  const sessions = new Map<string, ConnectSession>();
  const connectionsByKey = new Map<string, FakeConnection>();
  const queue: NextAuthorization[] = [];
  const failures = new Map<FakeSmartcarRoute, InjectedFailure[]>();
  const down = new Map<FakeSmartcarRoute, { status: number; html: boolean }>();
  const calls: FakeSmartcarCall[] = [];

  const connectionKey = (userId: string, vehicleId: string) => `${userId}\u0000${vehicleId}`;

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

  function registerUser(
    init: { readonly id?: string; readonly vehicles?: readonly FakeVehicleInit[] } = {},
  ): FakeUser {
    const vehicleInits = init.vehicles ?? options.defaultVehicles ?? [{}];
    const user: FakeUser = { id: init.id ?? randomUUID(), vehicles: vehicleInits.map((v) => makeVehicle(v)) };
    users.set(user.id, user);
    return user;
  }

  function findVehicle(vehicleId: string): FakeVehicle | undefined {
    for (const user of users.values()) {
      const vehicle = user.vehicles.find((v) => v.id === vehicleId);
      if (vehicle) return vehicle;
    }
    return undefined;
  }

  /** The grant's vehicles that are still connected (deleteConnections removes them). */
  function liveVehicleIds(grant: Grant): string[] {
    return grant.vehicleIds.filter((id) => connectionsByKey.has(connectionKey(grant.userId, id)));
  }

  /** Resolves who Connect authorizes; throws a message for the developer when the request is inconsistent. */
  function resolveSubject(next: NextAuthorization): { user: FakeUser; vehicleIds: string[] } {
    let user: FakeUser;
    if (next.userId !== undefined) {
      const existing = users.get(next.userId);
      if (!existing) throw new Error(`unknown fake user ${next.userId}; call registerUser first`);
      user = existing;
    } else {
      user = registerUser(next.vehicles ? { vehicles: next.vehicles } : {});
    }
    const owned = user.vehicles.map((v) => v.id);
    const vehicleIds = next.vehicleIds ? [...next.vehicleIds] : owned;
    const foreign = vehicleIds.find((id) => !owned.includes(id));
    if (foreign !== undefined) throw new Error(`vehicle ${foreign} does not belong to user ${user.id}`);
    return { user, vehicleIds };
  }

  function approve(grant: Grant, redirectUri: string): string {
    const connectedAt = new Date(now()).toISOString();
    for (const vehicleId of grant.vehicleIds) {
      const key = connectionKey(grant.userId, vehicleId);
      if (!connectionsByKey.has(key))
        connectionsByKey.set(key, { userId: grant.userId, vehicleId, connectedAt });
    }
    grants.set(grant.id, grant);
    const code = randomUUID();
    codes.set(code, { grantId: grant.id, redirectUri, expiresAt: now() + codeTtlMs, used: false });
    return code;
  }

  function issueTokens(grantId: string, requestId: string): Reply {
    const accessToken = randomUUID();
    const refreshToken = randomUUID();
    accessTokens.set(accessToken, { grantId, expiresAt: now() + accessTtlMs });
    refreshTokens.set(refreshToken, { grantId, expiresAt: now() + refreshTtlMs, rotatedAt: undefined });
    // The shape Smartcar answers; the SDK maps access_token/refresh_token and turns expires_in into
    // `expiration` (it computes `refreshExpiration` as now + 60 days itself).
    return json(
      200,
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: accessTtlMs / 1000,
        refresh_token: refreshToken,
      },
      requestId,
      { 'cache-control': 'no-store', pragma: 'no-cache' },
    );
  }

  function refreshState(token: string): RefreshTokenState {
    const record = refreshTokens.get(token);
    if (!record) return 'unknown';
    const grant = grants.get(record.grantId);
    if (!grant || liveVehicleIds(grant).length === 0) return 'revoked';
    if (now() >= record.expiresAt) return 'expired';
    if (record.rotatedAt === undefined) return 'active';
    return now() < record.rotatedAt + graceMs ? 'grace' : 'rotated';
  }

  // --- Connect ---

  function connectErrorRedirect(
    redirectUri: string,
    state: string | undefined,
    error: ConnectError,
    message?: string,
  ) {
    return redirect(
      withParams(redirectUri, {
        error,
        error_description: CONNECT_ERROR_DESCRIPTIONS[error],
        ...(error === 'configuration_error'
          ? { status_code: '400', error_message: message ?? 'Invalid request.' }
          : {}),
        state,
      }),
    );
  }

  function handleAuthorize(ctx: Ctx, params: URLSearchParams): Reply {
    const { values, duplicate } = singleParams(params);
    if (duplicate !== undefined) {
      return html(
        400,
        'Smartcar Connect error',
        `<p>Parameter <code>${escapeHtml(duplicate)}</code> is repeated.</p>`,
      );
    }
    // Without a trustworthy client and redirect URI, Connect shows an error page instead of redirecting
    // (redirecting to an unverified URI would make it an open redirector).
    if (values.client_id === undefined || !secretEquals(values.client_id, options.clientId)) {
      return html(400, 'Smartcar Connect error', '<p>Unknown or missing <code>client_id</code>.</p>');
    }
    const registered = options.redirectUris;
    let redirectUri = values.redirect_uri;
    if (redirectUri === undefined && registered?.length === 1) redirectUri = registered[0];
    if (
      redirectUri === undefined ||
      !isHttpUrl(redirectUri) ||
      (registered !== undefined && !registered.includes(redirectUri))
    ) {
      return html(400, 'Smartcar Connect error', '<p>Missing or unregistered <code>redirect_uri</code>.</p>');
    }
    const state = values.state;
    const auto = options.autoApprove === true || values.fake_auto === '1' || values.fake_auto === 'true';

    const configurationError = (message: string): Reply => {
      ctx.error = 'configuration_error';
      if (auto) return connectErrorRedirect(redirectUri, state, 'configuration_error', message);
      const exit = withParams(redirectUri, {
        error: 'configuration_error',
        error_description: CONNECT_ERROR_DESCRIPTIONS.configuration_error,
        status_code: '400',
        error_message: message,
        state,
      });
      return html(
        400,
        'Smartcar Connect error',
        `<p>${escapeHtml(message)}</p><p><a class="button deny" href="${escapeHtml(exit)}">Exit</a></p>`,
      );
    };

    if (values.response_type !== 'code') return configurationError('response_type must be "code".');
    const mode = values.mode ?? 'live';
    if (!['live', 'test', 'simulated'].includes(mode)) return configurationError(`Unknown mode "${mode}".`);
    let scope: string[];
    if (values.scope === undefined) {
      scope = [...defaultScope];
    } else {
      const items = values.scope.split(' ').filter((s) => s !== '');
      const invalid = items.find((s) => !PERMISSION_PATTERN.test(s));
      if (items.length === 0 || invalid !== undefined) {
        return configurationError(`Invalid scope${invalid === undefined ? '' : ` "${invalid}"`}.`);
      }
      scope = [...new Set(items.map((s) => s.replace(/^required:/, '')))];
    }

    // What this visit authorizes: an explicit fake_user, else the queue, else a brand-new user.
    const forced = values.fake_error;
    let next: NextAuthorization;
    if (values.fake_user !== undefined) {
      next = { userId: values.fake_user };
    } else {
      next = queue.shift() ?? {};
    }
    const error = forced ?? next.error;
    if (error !== undefined) {
      if (!isConnectError(error)) return configurationError(`Unknown fake_error "${error}".`);
      ctx.error = error;
      return connectErrorRedirect(redirectUri, state, error, 'Forced by the fake.');
    }
    let subject: { user: FakeUser; vehicleIds: string[] };
    try {
      subject = resolveSubject(next);
    } catch (e) {
      return configurationError(e instanceof Error ? e.message : String(e));
    }
    if (subject.vehicleIds.length === 0) {
      ctx.error = 'no_vehicles';
      return connectErrorRedirect(redirectUri, state, 'no_vehicles');
    }
    const grant: Grant = { id: randomUUID(), userId: subject.user.id, vehicleIds: subject.vehicleIds, scope };

    if (auto) {
      ctx.code = approve(grant, redirectUri);
      return redirect(withParams(redirectUri, { code: ctx.code, state }));
    }

    const sessionId = randomUUID();
    sessions.set(sessionId, { redirectUri, state, grant, expiresAt: now() + codeTtlMs });
    const decision = (d: string) =>
      `/oauth/connect/decision?${new URLSearchParams({ session: sessionId, decision: d })}`;
    const vehicles = subject.vehicleIds
      .map((id) => findVehicle(id))
      .filter((v): v is FakeVehicle => v !== undefined)
      .map((v) => `<li>${escapeHtml(`${v.year} ${v.make} ${v.model}`)} <code>${escapeHtml(v.id)}</code></li>`)
      .join('');
    return html(
      200,
      'Smartcar Connect (fake)',
      `<p>Application <code>${escapeHtml(options.clientId)}</code> (${escapeHtml(mode)} mode) asks for:</p>
<ul>${scope.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>
<p>User <code>${escapeHtml(subject.user.id)}</code>, vehicles:</p><ul>${vehicles}</ul>
<p>You will be sent back to <code>${escapeHtml(redirectUri)}</code>.</p>
<p><a class="button" id="allow" href="${escapeHtml(decision('allow'))}">Allow</a>
<a class="button deny" id="deny" href="${escapeHtml(decision('deny'))}">Deny</a></p>`,
    );
  }

  function handleDecision(ctx: Ctx, params: URLSearchParams): Reply {
    const sessionId = params.get('session') ?? '';
    const session = sessions.get(sessionId);
    // Single use: a reload or a second click must not mint a second code.
    sessions.delete(sessionId);
    if (!session || now() >= session.expiresAt) {
      return html(
        400,
        'Smartcar Connect error',
        '<p>This Connect session has expired. Start again from the app.</p>',
      );
    }
    if (params.get('decision') === 'allow') {
      ctx.code = approve(session.grant, session.redirectUri);
      return redirect(withParams(session.redirectUri, { code: ctx.code, state: session.state }));
    }
    ctx.error = 'access_denied';
    return connectErrorRedirect(session.redirectUri, session.state, 'access_denied');
  }

  // --- token endpoint ---

  function handleToken(ctx: Ctx, req: IncomingMessage, text: string): Reply {
    const fail = (status: number, error: string, description: string) => {
      ctx.error = error;
      return oauthError(ctx.requestId, status, error, description);
    };
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return fail(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
    }
    const { values: form, duplicate } = singleParams(new URLSearchParams(text));
    if (duplicate !== undefined) return fail(400, 'invalid_request', `Parameter ${duplicate} is repeated.`);

    const credentials = basicCredentials(req.headers.authorization);
    if (
      !credentials ||
      !secretEquals(credentials[0], options.clientId) ||
      !secretEquals(credentials[1], options.clientSecret)
    ) {
      return fail(401, 'invalid_client', 'Invalid client credentials.');
    }

    if (form.grant_type === 'authorization_code') {
      const record = form.code === undefined ? undefined : codes.get(form.code);
      if (!record || record.used || now() >= record.expiresAt) {
        return fail(400, 'invalid_grant', 'Invalid or expired authorization code.');
      }
      if (form.redirect_uri !== record.redirectUri) {
        return fail(400, 'invalid_grant', 'redirect_uri does not match the one used in Connect.');
      }
      record.used = true;
      return issueTokens(record.grantId, ctx.requestId);
    }

    if (form.grant_type === 'refresh_token') {
      const token = form.refresh_token ?? '';
      const record = refreshTokens.get(token);
      const state = refreshState(token);
      if (!record || state === 'unknown' || state === 'expired' || state === 'revoked') {
        return fail(400, 'invalid_grant', 'Invalid or expired refresh token.');
      }
      if (state === 'rotated') {
        return fail(400, 'invalid_grant', 'Refresh token has already been used.');
      }
      // Rotation: the old token stays usable only within the grace window counted from its first use.
      record.rotatedAt ??= now();
      return issueTokens(record.grantId, ctx.requestId);
    }

    return fail(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token.');
  }

  // --- vehicle API ---

  function authenticate(ctx: Ctx, req: IncomingMessage): { grant: Grant } | Reply {
    const token = bearerToken(req.headers.authorization);
    const record = token === undefined ? undefined : accessTokens.get(token);
    const grant = record ? grants.get(record.grantId) : undefined;
    if (!record || !grant || now() >= record.expiresAt || liveVehicleIds(grant).length === 0) {
      ctx.error = 'AUTHENTICATION';
      return authenticationError(ctx.requestId);
    }
    return { grant };
  }

  function handleUser(ctx: Ctx, req: IncomingMessage): Reply {
    const auth = authenticate(ctx, req);
    if ('status' in auth) return auth;
    return json(200, { id: auth.grant.userId }, ctx.requestId);
  }

  function handleVehicles(ctx: Ctx, req: IncomingMessage): Reply {
    const auth = authenticate(ctx, req);
    if ('status' in auth) return auth;
    const limitText = ctx.query.limit;
    const offsetText = ctx.query.offset;
    const limit = limitText === undefined ? 10 : nonNegativeInteger(limitText);
    const offset = offsetText === undefined ? 0 : nonNegativeInteger(offsetText);
    if (limit === undefined || limit < 1 || limit > 50) {
      ctx.error = 'VALIDATION';
      return validationError(ctx.requestId, 'limit must be an integer between 1 and 50.');
    }
    if (offset === undefined) {
      ctx.error = 'VALIDATION';
      return validationError(ctx.requestId, 'offset must be a non-negative integer.');
    }
    const all = liveVehicleIds(auth.grant);
    return json(
      200,
      { vehicles: all.slice(offset, offset + limit), paging: { count: all.length, offset } },
      ctx.requestId,
    );
  }

  function handleVehicle(
    ctx: Ctx,
    req: IncomingMessage,
    vehicleId: string,
    resource: string | undefined,
  ): Reply {
    const auth = authenticate(ctx, req);
    if ('status' in auth) return auth;
    const vehicle = findVehicle(vehicleId);
    // A token only opens the vehicles of its own grant; Smartcar treats anything else as bad credentials.
    if (!vehicle || !liveVehicleIds(auth.grant).includes(vehicleId)) {
      ctx.error = 'AUTHENTICATION';
      return authenticationError(ctx.requestId);
    }
    const required = resource === 'vin' ? 'read_vin' : 'read_vehicle_info';
    if (!auth.grant.scope.includes(required)) {
      ctx.error = 'PERMISSION';
      return v2Error(
        ctx.requestId,
        403,
        'PERMISSION',
        null,
        'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.',
        'REAUTHENTICATE',
        'permission-errors',
      );
    }
    if (resource === 'vin') return json(200, { vin: vehicle.vin }, ctx.requestId);
    return json(
      200,
      { id: vehicle.id, make: vehicle.make, model: vehicle.model, year: vehicle.year },
      ctx.requestId,
      { 'sc-unit-system': req.headers['sc-unit-system'] === 'imperial' ? 'imperial' : 'metric' },
    );
  }

  // --- management API ---

  function handleManagement(ctx: Ctx, req: IncomingMessage): Reply {
    const credentials = basicCredentials(req.headers.authorization);
    if (
      !credentials ||
      credentials[0] !== 'default' ||
      !secretEquals(credentials[1], options.managementToken)
    ) {
      ctx.error = 'AUTHENTICATION';
      return authenticationError(ctx.requestId);
    }
    const userId = ctx.query.user_id;
    const vehicleId = ctx.query.vehicle_id;
    const matches = (c: FakeConnection) =>
      (userId === undefined || c.userId === userId) && (vehicleId === undefined || c.vehicleId === vehicleId);

    if (req.method === 'DELETE') {
      if (userId === undefined && vehicleId === undefined) {
        ctx.error = 'VALIDATION';
        return validationError(ctx.requestId, 'Provide user_id, vehicle_id or both.');
      }
      const deleted: { userId: string; vehicleId: string }[] = [];
      for (const [key, connection] of connectionsByKey) {
        if (matches(connection)) {
          connectionsByKey.delete(key);
          deleted.push({ userId: connection.userId, vehicleId: connection.vehicleId });
        }
      }
      return json(200, { connections: deleted }, ctx.requestId);
    }

    // GET: newest first, cursor = opaque position in that order.
    const limit = ctx.query.limit === undefined ? 10 : nonNegativeInteger(ctx.query.limit);
    const start =
      ctx.query.cursor === undefined
        ? 0
        : nonNegativeInteger(Buffer.from(ctx.query.cursor, 'base64url').toString());
    if (limit === undefined || limit < 1 || limit > 100 || start === undefined) {
      ctx.error = 'VALIDATION';
      return validationError(ctx.requestId, 'Invalid limit or cursor.');
    }
    const all = [...connectionsByKey.values()]
      .filter(matches)
      .sort((a, b) => b.connectedAt.localeCompare(a.connectedAt));
    const page = all.slice(start, start + limit);
    const nextCursor =
      start + limit < all.length ? Buffer.from(String(start + limit)).toString('base64url') : null;
    return json(200, { connections: page, paging: { cursor: nextCursor } }, ctx.requestId);
  }

  // --- routing ---

  type Handler = (ctx: Ctx, req: IncomingMessage, url: URL, body: string) => Reply;

  function routeOf(method: string, path: string): { route: FakeSmartcarRoute; run: Handler } | undefined {
    if (method === 'GET' && path === '/oauth/authorize') {
      return { route: 'connect', run: (ctx, _req, url) => handleAuthorize(ctx, url.searchParams) };
    }
    if (method === 'GET' && path === '/oauth/connect/decision') {
      return { route: 'connect', run: (ctx, _req, url) => handleDecision(ctx, url.searchParams) };
    }
    if (method === 'POST' && path === '/oauth/token')
      return { route: 'token', run: (ctx, req, _url, body) => handleToken(ctx, req, body) };
    if (method === 'GET' && path === `/${API_VERSION}/user`)
      return { route: 'user', run: (ctx, req) => handleUser(ctx, req) };
    if (method === 'GET' && path === `/${API_VERSION}/vehicles`) {
      return { route: 'vehicles', run: (ctx, req) => handleVehicles(ctx, req) };
    }
    const vehicle = path.match(
      new RegExp(`^/${API_VERSION.replace('.', '\\.')}/vehicles/([^/]+)(?:/(vin))?$`),
    );
    if (method === 'GET' && vehicle?.[1] !== undefined) {
      let id: string;
      try {
        id = decodeURIComponent(vehicle[1]);
      } catch {
        return undefined;
      }
      const resource = vehicle[2];
      return { route: 'vehicle', run: (ctx, req) => handleVehicle(ctx, req, id, resource) };
    }
    if ((method === 'GET' || method === 'DELETE') && path === `/${API_VERSION}/management/connections`) {
      return { route: 'management', run: (ctx, req) => handleManagement(ctx, req) };
    }
    return undefined;
  }

  function injected(ctx: Ctx, route: FakeSmartcarRoute): Reply | undefined {
    const outage = down.get(route);
    if (outage) {
      ctx.injected = true;
      ctx.error = 'DOWN';
      if (outage.html) {
        return {
          status: outage.status,
          headers: { 'content-type': 'text/html; charset=utf-8' },
          body: '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n',
        };
      }
      return json(outage.status, defaultFailureBody(route, outage.status, ctx.requestId), ctx.requestId);
    }
    const pending = failures.get(route);
    const failure = pending?.[0];
    if (!pending || !failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining <= 0) pending.shift();
    ctx.injected = true;
    const body =
      failure.body === undefined ? defaultFailureBody(route, failure.status, ctx.requestId) : failure.body;
    if (typeof body === 'object' && body !== null) {
      const record = body as Record<string, unknown>;
      const label = record.error ?? record.type;
      if (typeof label === 'string') ctx.error = label;
    }
    if (typeof body === 'string') {
      const type = body.trimStart().startsWith('<') ? 'text/html' : 'text/plain';
      return {
        status: failure.status,
        headers: {
          'content-type': `${type}; charset=utf-8`,
          'sc-request-id': ctx.requestId,
          ...failure.headers,
        },
        body,
      };
    }
    return json(failure.status, body, ctx.requestId, failure.headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://fake-smartcar.invalid');
    // The SDK joins paths with a trailing slash (`/v2.0/user/`, `/v2.0/vehicles/{id}/`); Smartcar accepts both.
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const method = req.method ?? 'GET';
    const ctx: Ctx = {
      requestId,
      method,
      path,
      query: singleParams(url.searchParams).values,
      route: 'unknown',
      injected: false,
    };
    let reply: Reply;
    try {
      const match = routeOf(method, path);
      if (!match) {
        ctx.error = 'RESOURCE_NOT_FOUND';
        reply = v2Error(
          requestId,
          404,
          'RESOURCE_NOT_FOUND',
          'PATH',
          'The requested resource does not exist.',
          null,
          'resource-errors',
        );
      } else {
        ctx.route = match.route;
        const body = method === 'POST' ? await readBody(req, requestId) : '';
        // Noted before any injected failure so that tests can see which token a failed call presented.
        if (match.route === 'token') {
          const form = new URLSearchParams(body);
          ctx.grantType = form.get('grant_type') ?? undefined;
          ctx.code = form.get('code') ?? undefined;
          ctx.refreshToken = form.get('refresh_token') ?? undefined;
        } else if (match.route !== 'connect' && match.route !== 'management') {
          ctx.accessToken = bearerToken(req.headers.authorization);
        }
        reply = injected(ctx, match.route) ?? match.run(ctx, req, url, body);
      }
    } catch (error) {
      if (error instanceof HttpFailure) {
        reply = error.reply;
      } else {
        log(`fake-smartcar: ${method} ${path} failed: ${String(error)}`);
        ctx.error = 'SERVER';
        reply = json(500, defaultFailureBody('token', 500, requestId), requestId);
      }
    }
    // Recorded before answering, so a test that awaited the SDK call always sees it.
    calls.push({
      at: now(),
      method,
      path,
      route: ctx.route,
      query: ctx.query,
      status: reply.status,
      requestId,
      injected: ctx.injected,
      ...(ctx.grantType !== undefined ? { grantType: ctx.grantType } : {}),
      ...(ctx.code !== undefined ? { code: ctx.code } : {}),
      ...(ctx.refreshToken !== undefined ? { refreshToken: ctx.refreshToken } : {}),
      ...(ctx.accessToken !== undefined ? { accessToken: ctx.accessToken } : {}),
      ...(ctx.error !== undefined ? { error: ctx.error } : {}),
    });
    log(
      `fake-smartcar: ${method} ${path} → ${reply.status}${ctx.error ? ` ${ctx.error}` : ''}${ctx.injected ? ' (injected)' : ''}`,
    );
    res.writeHead(reply.status, { 'content-length': Buffer.byteLength(reply.body), ...reply.headers });
    res.end(reply.body);
  }

  const server = createServer((req, res) => void handle(req, res));
  const port = await listen(server, options.port, host);
  const origin = httpOrigin(host, port);

  return {
    url: origin,
    port,
    env: {
      SMARTCAR_AUTH_ORIGIN: origin,
      SMARTCAR_API_ORIGIN: origin,
      SMARTCAR_MANAGEMENT_API_ORIGIN: origin,
    },
    calls,
    clearCalls: () => {
      calls.length = 0;
    },
    registerUser,
    nextAuthorization: (next) => {
      queue.push(next);
    },
    createAuthorizationCode: (input) => {
      const subject = resolveSubject(input);
      const grant: Grant = {
        id: randomUUID(),
        userId: subject.user.id,
        vehicleIds: subject.vehicleIds,
        scope: [...(input.scope ?? defaultScope)],
      };
      return {
        code: approve(grant, input.redirectUri),
        userId: subject.user.id,
        vehicleIds: subject.vehicleIds,
      };
    },
    failNext: (route, status, body, failureOptions = {}) => {
      const headers: Record<string, string> = { ...failureOptions.headers };
      if (failureOptions.retryAfter !== undefined) headers['retry-after'] = String(failureOptions.retryAfter);
      const list = failures.get(route) ?? [];
      list.push({ status, body, headers, remaining: Math.max(1, failureOptions.times ?? 1) });
      failures.set(route, list);
    },
    setDown: (isDown, downOptions = {}) => {
      for (const route of downOptions.routes ?? ['management']) {
        if (isDown) {
          const htmlPage = downOptions.html === true;
          down.set(route, { status: downOptions.status ?? (htmlPage ? 503 : 500), html: htmlPage });
        } else {
          down.delete(route);
        }
      }
    },
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
    connections: () => [...connectionsByKey.values()],
    refreshTokenState: refreshState,
    stop: () => closeServer(server),
  };
}
