import type { IncomingMessage } from 'node:http';
import type { Reply } from './http.js';
import type { FakeSmartcarRoute } from './types.js';

/**
 * How each API surface of the fake (Connect, token endpoint, vehicle API, Management API) declares its
 * endpoints: a table of method + path pattern → handler, matched by `matchRoute`. A new endpoint is one more
 * row in its surface's table.
 */

/** Mutable per-request record; becomes a `FakeSmartcarCall` when the reply is written. */
export interface Ctx {
  readonly requestId: string;
  readonly method: string;
  /** Path without the query string and without trailing slashes. */
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

export interface RouteRequest {
  readonly ctx: Ctx;
  readonly req: IncomingMessage;
  readonly url: URL;
  /** The request body (read for POST only, otherwise empty). */
  readonly body: string;
  /** The `:name` segments of the path pattern, URI-decoded. */
  readonly params: Readonly<Record<string, string>>;
}

export interface RouteEntry {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Slash-separated; a `:name` segment matches any one non-empty segment, e.g. `/v2.0/vehicles/:id/vin`. */
  readonly path: string;
  /** The label `failNext`/`setDown` target and `calls` report. */
  readonly route: FakeSmartcarRoute;
  readonly run: (request: RouteRequest) => Reply | Promise<Reply>;
}

export interface Surface {
  readonly routes: readonly RouteEntry[];
  /**
   * Notes on `ctx` what the request presented (tokens, grant type), before any injected failure answers, so
   * that tests can see which token a failed call presented.
   */
  readonly note?: (ctx: Ctx, req: IncomingMessage, body: string) => void;
}

export interface RouteMatch {
  readonly entry: RouteEntry;
  readonly surface: Surface;
  readonly params: Record<string, string>;
}

function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const expected = pattern.split('/');
  const actual = path.split('/');
  if (expected.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of expected.entries()) {
    const given = actual[i] ?? '';
    if (!segment.startsWith(':')) {
      if (segment !== given) return undefined;
      continue;
    }
    if (given === '') return undefined;
    try {
      params[segment.slice(1)] = decodeURIComponent(given);
    } catch {
      // Not valid percent-encoding: no such resource.
      return undefined;
    }
  }
  return params;
}

export function matchRoute(
  surfaces: readonly Surface[],
  method: string,
  path: string,
): RouteMatch | undefined {
  for (const surface of surfaces) {
    for (const entry of surface.routes) {
      if (entry.method !== method) continue;
      const params = matchPath(entry.path, path);
      if (params) return { entry, surface, params };
    }
  }
  return undefined;
}
