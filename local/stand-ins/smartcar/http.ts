import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readBodyText } from '../../loopback-server.js';

/** Replies and request parsing shared by every API surface of the fake Smartcar. */

export const API_VERSION = 'v2.0';
const DOCS = 'https://smartcar.com/docs/errors/api-errors';
const MAX_REQUEST_BYTES = 64 * 1024;

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Thrown to answer with `reply` from deep inside request handling (e.g. a body that is too large). */
export class HttpFailure extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function json(
  status: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'sc-request-id': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

/** Connect pages: tight CSP because they echo request parameters (escaped) back into HTML. */
export function html(status: number, title: string, inner: string): Reply {
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

export function redirect(location: string): Reply {
  return {
    status: 302,
    headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
    body: '',
  };
}

/** What a v2 API error says besides its status, as documented in Smartcar's "API Errors" reference. */
export interface V2ErrorFields {
  readonly type: string;
  readonly code: string | null;
  readonly description: string;
  readonly resolution: string | null;
  /** Below the API-errors page, e.g. `validation-errors#parameter`. */
  readonly docPath: string;
}

/** A v2 API error body. */
export function v2ErrorBody(requestId: string, status: number, fields: V2ErrorFields): unknown {
  return {
    type: fields.type,
    code: fields.code,
    description: fields.description,
    docURL: `${DOCS}/${fields.docPath}`,
    statusCode: status,
    requestId,
    resolution: { type: fields.resolution },
  };
}

export function v2Error(requestId: string, status: number, fields: V2ErrorFields): Reply {
  return json(status, v2ErrorBody(requestId, status, fields), requestId);
}

export function authenticationError(requestId: string): Reply {
  return v2Error(requestId, 401, {
    type: 'AUTHENTICATION',
    code: null,
    description:
      'The authorization header is missing or malformed, or it contains invalid or expired authentication credentials. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.',
    resolution: null,
    docPath: 'authentication-errors',
  });
}

export function validationError(requestId: string, description: string): Reply {
  return v2Error(requestId, 400, {
    type: 'VALIDATION',
    code: 'PARAMETER',
    description,
    resolution: null,
    docPath: 'validation-errors#parameter',
  });
}

export const NOT_FOUND: V2ErrorFields = {
  type: 'RESOURCE_NOT_FOUND',
  code: 'PATH',
  description: 'The requested resource does not exist.',
  resolution: null,
  docPath: 'resource-errors',
};

export function notFoundError(requestId: string): Reply {
  return v2Error(requestId, 404, NOT_FOUND);
}

/** OAuth 2.0 error (RFC 6749 §5.2) from the token endpoint; the SDK maps `error` to `SmartcarError.type`. */
export function oauthError(requestId: string, status: number, error: string, description: string): Reply {
  return json(status, { error, error_description: description }, requestId, {
    'cache-control': 'no-store',
    ...(status === 401 ? { 'www-authenticate': 'Basic realm="smartcar"' } : {}),
  });
}

export function readBody(req: IncomingMessage, requestId: string): Promise<string> {
  const tooLarge = () => new HttpFailure(validationError(requestId, 'Request body too large.'));
  return readBodyText(req, MAX_REQUEST_BYTES, tooLarge);
}

/** Compares secrets without leaking their length or content through timing. */
export function secretEquals(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** `Basic base64(user:password)` → [user, password]; undefined if absent or malformed. */
export function basicCredentials(header: string | undefined): [string, string] | undefined {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** The parameters as a record (the last value wins) and the first name that was repeated, if any. */
export function singleParams(params: URLSearchParams): {
  values: Record<string, string>;
  duplicate?: string;
} {
  const values: Record<string, string> = {};
  let duplicate: string | undefined;
  for (const [key, value] of params) {
    if (Object.hasOwn(values, key)) duplicate ??= key;
    values[key] = value;
  }
  return duplicate === undefined ? { values } : { values, duplicate };
}

export function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export function nonNegativeInteger(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}
