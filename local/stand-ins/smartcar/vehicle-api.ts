import {
  API_VERSION,
  authenticationError,
  bearerToken,
  json,
  nonNegativeInteger,
  secretEquals,
  v2Error,
  validationError,
  type Reply,
} from './http.js';
import { serverError } from './failures.js';
import type { Ctx, RouteEntry, RouteRequest, Surface } from './router.js';
import type { Grant, SmartcarState } from './state.js';
import type { FakeCommands } from './commands.js';
import type { FakeSmartcarRoute, FakeVehicle } from './types.js';

/**
 * The vehicle API (`/v2.0/user`, `/v2.0/vehicles`, `/v2.0/vehicles/{id}/…`), authenticated by a Bearer
 * access token that opens only the vehicles of its own grant. A vehicle endpoint is one `vehicleRoute` row:
 * the permission it needs and what it answers for a vehicle the token may read. Webhook subscriptions
 * (`/v2.0/vehicles/{id}/webhooks/{webhookId}`): POST with the vehicle's access token subscribes (again: same
 * answer), DELETE with the Application Management Token as Bearer unsubscribes.
 */

const V = `/${API_VERSION}`;

/** The grant behind the request's access token, or the 401 Smartcar sends. */
function authenticate(state: SmartcarState, request: RouteRequest): { grant: Grant } | Reply {
  const { ctx } = request;
  const token = bearerToken(request.req.headers.authorization);
  const record = token === undefined ? undefined : state.accessTokens.get(token);
  const grant = record ? state.grants.get(record.grantId) : undefined;
  if (!record || !grant || state.now() >= record.expiresAt || state.liveVehicleIds(grant).length === 0) {
    ctx.error = 'AUTHENTICATION';
    return authenticationError(ctx.requestId);
  }
  return { grant };
}

function permissionError(ctx: Ctx): Reply {
  ctx.error = 'PERMISSION';
  return v2Error(ctx.requestId, 403, {
    type: 'PERMISSION',
    code: null,
    description:
      'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.',
    resolution: 'REAUTHENTICATE',
    docPath: 'permission-errors',
  });
}

/** An endpoint that needs a valid access token. */
function authenticatedRoute(
  state: SmartcarState,
  route: Pick<RouteEntry, 'method' | 'path' | 'route'>,
  respond: (grant: Grant, request: RouteRequest) => Reply | Promise<Reply>,
): RouteEntry {
  return {
    ...route,
    run: (request) => {
      const auth = authenticate(state, request);
      return 'status' in auth ? auth : respond(auth.grant, request);
    },
  };
}

/**
 * An endpoint of `/v2.0/vehicles/:id/…` that needs `permission` granted on that vehicle (`null`: any token of
 * the vehicle's grant).
 */
function vehicleRoute(
  state: SmartcarState,
  method: RouteEntry['method'],
  path: string,
  permission: string | null,
  respond: (vehicle: FakeVehicle, request: RouteRequest, grant: Grant) => Reply | Promise<Reply>,
  route: FakeSmartcarRoute = 'vehicle',
): RouteEntry {
  return authenticatedRoute(state, { method, path, route }, (grant, request) => {
    const { ctx } = request;
    const vehicleId = request.params.id ?? '';
    const vehicle = state.findVehicle(vehicleId);
    // A token only opens the vehicles of its own grant; Smartcar treats anything else as bad credentials.
    if (!vehicle || !state.liveVehicleIds(grant).includes(vehicleId)) {
      ctx.error = 'AUTHENTICATION';
      return authenticationError(ctx.requestId);
    }
    if (permission !== null && !grant.scope.includes(permission)) return permissionError(ctx);
    return respond(vehicle, request, grant);
  });
}

function listVehicles(state: SmartcarState, grant: Grant, ctx: Ctx): Reply {
  if (state.failingVehicleLists.delete(grant.id)) {
    ctx.injected = true;
    ctx.error = 'SERVER';
    return serverError(ctx.requestId);
  }
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
  const all = state.liveVehicleIds(grant);
  return json(
    200,
    { vehicles: all.slice(offset, offset + limit), paging: { count: all.length, offset } },
    ctx.requestId,
  );
}

const subscriptionKey = (vehicleId: string, webhookId: string) => `${vehicleId} ${webhookId}`;

function subscribe(state: SmartcarState): RouteEntry {
  return authenticatedRoute(
    state,
    { method: 'POST', path: `${V}/vehicles/:id/webhooks/:webhookId`, route: 'subscribe' },
    (grant, { ctx, params }) => {
      const vehicleId = params.id ?? '';
      const webhookId = params.webhookId ?? '';
      if (!state.findVehicle(vehicleId) || !state.liveVehicleIds(grant).includes(vehicleId)) {
        ctx.error = 'AUTHENTICATION';
        return authenticationError(ctx.requestId);
      }
      const key = subscriptionKey(vehicleId, webhookId);
      if (!state.subscriptions.has(key)) {
        state.subscriptions.set(key, { vehicleId, webhookId, subscribedAt: state.now() });
      }
      return json(200, { webhookId, vehicleId }, ctx.requestId);
    },
  );
}

function unsubscribe(state: SmartcarState): RouteEntry {
  return {
    method: 'DELETE',
    path: `${V}/vehicles/:id/webhooks/:webhookId`,
    route: 'unsubscribe',
    run: ({ ctx, req, params }) => {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || !secretEquals(token, state.settings.managementToken)) {
        ctx.error = 'AUTHENTICATION';
        return authenticationError(ctx.requestId);
      }
      state.subscriptions.delete(subscriptionKey(params.id ?? '', params.webhookId ?? ''));
      return json(200, {}, ctx.requestId);
    },
  };
}

export function vehicleApiSurface(state: SmartcarState, commands: FakeCommands): Surface {
  return {
    routes: [
      authenticatedRoute(state, { method: 'GET', path: `${V}/user`, route: 'user' }, (grant, { ctx }) =>
        json(200, { id: grant.userId }, ctx.requestId),
      ),
      authenticatedRoute(
        state,
        { method: 'GET', path: `${V}/vehicles`, route: 'vehicles' },
        (grant, { ctx }) => listVehicles(state, grant, ctx),
      ),
      vehicleRoute(state, 'GET', `${V}/vehicles/:id`, 'read_vehicle_info', (vehicle, { ctx, req }) =>
        json(
          200,
          { id: vehicle.id, make: vehicle.make, model: vehicle.model, year: vehicle.year },
          ctx.requestId,
          {
            'sc-unit-system': req.headers['sc-unit-system'] === 'imperial' ? 'imperial' : 'metric',
          },
        ),
      ),
      vehicleRoute(state, 'GET', `${V}/vehicles/:id/vin`, 'read_vin', (vehicle, { ctx }) =>
        json(200, { vin: vehicle.vin }, ctx.requestId),
      ),
      vehicleRoute(
        state,
        'GET',
        `${V}/vehicles/:id/permissions`,
        null,
        (_vehicle, request, grant) => commands.permissions(grant, request),
        'permissions',
      ),
      vehicleRoute(
        state,
        'POST',
        `${V}/vehicles/:id/security`,
        'control_security',
        commands.security,
        'command',
      ),
      vehicleRoute(state, 'POST', `${V}/vehicles/:id/charge`, 'control_charge', commands.charge, 'command'),
      vehicleRoute(
        state,
        'POST',
        `${V}/vehicles/:id/charge/limit`,
        'control_charge',
        commands.chargeLimit,
        'command',
      ),
      subscribe(state),
      unsubscribe(state),
    ],
    note: (ctx, req) => {
      ctx.accessToken = bearerToken(req.headers.authorization);
    },
  };
}
