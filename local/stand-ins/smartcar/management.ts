import {
  API_VERSION,
  authenticationError,
  basicCredentials,
  json,
  nonNegativeInteger,
  secretEquals,
  validationError,
  type Reply,
} from './http.js';
import type { Ctx, RouteEntry, RouteRequest, Surface } from './router.js';
import type { SmartcarState } from './state.js';
import type { FakeConnection } from './types.js';

/**
 * The Management API (`/v2.0/management/…`), authenticated by the Application Management Token as Basic
 * `default:<AMT>`: list the application's vehicle connections and delete them (which revokes the tokens of
 * every grant left without a connected vehicle).
 */

const CONNECTIONS = `/${API_VERSION}/management/connections`;

/** An endpoint that needs the Application Management Token. */
function managementRoute(
  state: SmartcarState,
  method: RouteEntry['method'],
  path: string,
  respond: (request: RouteRequest) => Reply,
): RouteEntry {
  return {
    method,
    path,
    route: 'management',
    run: (request) => {
      const credentials = basicCredentials(request.req.headers.authorization);
      if (
        !credentials ||
        credentials[0] !== 'default' ||
        !secretEquals(credentials[1], state.settings.managementToken)
      ) {
        request.ctx.error = 'AUTHENTICATION';
        return authenticationError(request.ctx.requestId);
      }
      return respond(request);
    },
  };
}

/** The `user_id` / `vehicle_id` filter both connection endpoints take. */
function connectionFilter(ctx: Ctx): { any: boolean; matches: (c: FakeConnection) => boolean } {
  const userId = ctx.query.user_id;
  const vehicleId = ctx.query.vehicle_id;
  return {
    any: userId !== undefined || vehicleId !== undefined,
    matches: (c) =>
      (userId === undefined || c.userId === userId) && (vehicleId === undefined || c.vehicleId === vehicleId),
  };
}

/** Newest first; the cursor is an opaque position in that order. */
function listConnections(state: SmartcarState, ctx: Ctx): Reply {
  const { matches } = connectionFilter(ctx);
  const limit = ctx.query.limit === undefined ? 10 : nonNegativeInteger(ctx.query.limit);
  const start =
    ctx.query.cursor === undefined
      ? 0
      : nonNegativeInteger(Buffer.from(ctx.query.cursor, 'base64url').toString());
  if (limit === undefined || limit < 1 || limit > 100 || start === undefined) {
    ctx.error = 'VALIDATION';
    return validationError(ctx.requestId, 'Invalid limit or cursor.');
  }
  const all = [...state.connections.values()]
    .filter(matches)
    .sort((a, b) => b.connectedAt.localeCompare(a.connectedAt));
  const page = all.slice(start, start + limit);
  const nextCursor =
    start + limit < all.length ? Buffer.from(String(start + limit)).toString('base64url') : null;
  return json(200, { connections: page, paging: { cursor: nextCursor } }, ctx.requestId);
}

function deleteConnections(state: SmartcarState, ctx: Ctx): Reply {
  const { any, matches } = connectionFilter(ctx);
  if (!any) {
    ctx.error = 'VALIDATION';
    return validationError(ctx.requestId, 'Provide user_id, vehicle_id or both.');
  }
  const deleted: { userId: string; vehicleId: string }[] = [];
  for (const [key, connection] of state.connections) {
    if (matches(connection)) {
      state.connections.delete(key);
      deleted.push({ userId: connection.userId, vehicleId: connection.vehicleId });
    }
  }
  return json(200, { connections: deleted }, ctx.requestId);
}

export function managementSurface(state: SmartcarState): Surface {
  return {
    routes: [
      managementRoute(state, 'GET', CONNECTIONS, ({ ctx }) => listConnections(state, ctx)),
      managementRoute(state, 'DELETE', CONNECTIONS, ({ ctx }) => deleteConnections(state, ctx)),
    ],
  };
}
