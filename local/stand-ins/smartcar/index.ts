import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, httpOrigin, listen } from '../../loopback-server.js';
import { connectSurface, createAuthorizationCode } from './connect.js';
import { createFakeCommands } from './commands.js';
import { createFaults, serverError } from './failures.js';
import { HttpFailure, notFoundError, readBody, singleParams, type Reply } from './http.js';
import { managementSurface } from './management.js';
import { matchRoute, type Ctx, type Surface } from './router.js';
import { createState } from './state.js';
import { tokenSurface } from './token.js';
import type { FakeSmartcar, FakeSmartcarOptions } from './types.js';
import { vehicleApiSurface } from './vehicle-api.js';

/** The public types (options, the handle, recorded calls…) are all in `types.ts`. */
export type * from './types.js';

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
 * | `Vehicle#permissions`             | `GET {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/permissions`      |
 * | `Vehicle#lock` / `unlock`         | `POST {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/security`        |
 * | `Vehicle#startCharge`/`stopCharge`| `POST {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/charge`          |
 * | `Vehicle#setChargeLimit`          | `POST {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/charge/limit`    |
 * | `Vehicle#subscribe`               | `POST {SMARTCAR_API_ORIGIN}/v2.0/vehicles/{id}/webhooks/{wh}`   |
 * | `Vehicle#unsubscribe`             | `DELETE …/v2.0/vehicles/{id}/webhooks/{wh}` (Bearer AMT)        |
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
 *
 * One module per API surface, each a table of routes over the shared `state.ts`: `connect.ts` (the authorize
 * page), `token.ts` (code and refresh-token exchange), `vehicle-api.ts` (user, vehicles, attributes, VIN, webhook subscriptions) and
 * `management.ts` (connections); `failures.ts` answers for `failNext` and `setDown` before any of them runs.
 */
export async function startFakeSmartcar(options: FakeSmartcarOptions): Promise<FakeSmartcar> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const state = createState(options);
  const faults = createFaults();
  const commands = createFakeCommands();
  const surfaces: readonly Surface[] = [
    connectSurface(state),
    tokenSurface(state),
    vehicleApiSurface(state, commands),
    managementSurface(state),
    commands.controlSurface,
  ];

  async function answer(ctx: Ctx, req: IncomingMessage, url: URL): Promise<Reply> {
    const match = matchRoute(surfaces, ctx.method, ctx.path);
    if (!match) {
      ctx.error = 'RESOURCE_NOT_FOUND';
      return notFoundError(ctx.requestId);
    }
    ctx.route = match.entry.route;
    const body = ctx.method === 'POST' ? await readBody(req, ctx.requestId) : '';
    match.surface.note?.(ctx, req, body);
    return (
      faults.injectedReply(ctx, match.entry.route) ??
      (await match.entry.run({ ctx, req, url, body, params: match.params }))
    );
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
      reply = await answer(ctx, req, url);
    } catch (error) {
      if (error instanceof HttpFailure) {
        reply = error.reply;
      } else {
        log(`fake-smartcar: ${method} ${path} failed: ${String(error)}`);
        ctx.error = 'SERVER';
        reply = serverError(requestId);
      }
    }
    // Recorded before answering, so a test that awaited the SDK call always sees it.
    state.calls.push({
      at: state.now(),
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
    // Management calls name what they touch (ids only, never the AMT): whoever tries it by hand sees which
    // user's connection of which vehicle was revoked.
    const filter =
      ctx.route === 'management'
        ? ['user_id', 'vehicle_id']
            .filter((name) => ctx.query[name] !== undefined)
            .map((name) => ` ${name}=${ctx.query[name]}`)
            .join('')
        : '';
    log(
      `fake-smartcar: ${method} ${path}${filter} → ${reply.status}${ctx.error ? ` ${ctx.error}` : ''}${ctx.injected ? ' (injected)' : ''}`,
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
    calls: state.calls,
    clearCalls: () => {
      state.calls.length = 0;
    },
    registerUser: (init) => state.registerUser(init),
    nextAuthorization: (next) => {
      state.queue.push(next);
    },
    createAuthorizationCode: (input) => createAuthorizationCode(state, input),
    failNext: (route, status, body, failureOptions) => faults.failNext(route, status, body, failureOptions),
    failCommand: (vehicleId, failure) => commands.failCommand(vehicleId, failure),
    vehicleState: (vehicleId) => commands.vehicleState(vehicleId),
    setDown: (isDown, downOptions) => faults.setDown(isDown, downOptions),
    now: state.now,
    advanceClock: (ms) => state.advanceClock(ms),
    setClock: (time) => state.setClock(time),
    connections: () => [...state.connections.values()],
    subscriptions: () => [...state.subscriptions.values()],
    refreshTokenState: (token) => state.refreshState(token),
    stop: () => closeServer(server),
  };
}
