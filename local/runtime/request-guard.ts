/**
 * The local gateway's answers of its own and its request guard (Host and Origin checks), apart from the
 * event building and serving in http-gateway.ts.
 */

export interface HttpAnswer {
  readonly statusCode: number;
  /** Header values; `set-cookie` may repeat. */
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

const jsonAnswer = (statusCode: number, message: string): HttpAnswer => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify({ message })),
});

export const NOT_FOUND = jsonAnswer(404, 'Not Found');
export const FORBIDDEN_HOST = jsonAnswer(
  421,
  'Misdirected Request: local mode answers only requests addressed to its loopback address',
);
export const FORBIDDEN_CROSS_SITE = jsonAnswer(
  403,
  'Forbidden: cross-site requests are refused in local mode',
);
export const INTERNAL_SERVER_ERROR = jsonAnswer(500, 'Internal Server Error');
export const TOO_LARGE = jsonAnswer(413, 'Request Entity Too Large');

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** `host` as it appears in a Host header: an IPv6 address in brackets, names lowercased. */
function hostForHeader(host: string): string {
  const lower = host.toLowerCase();
  return lower.includes(':') ? `[${lower}]` : lower;
}

/**
 * The Host header values this gateway answers: its own address with its own port, plus the loopback names
 * when it listens on loopback (or everywhere). Anything else is a DNS-rebinding attack (a web page whose
 * name resolves to 127.0.0.1) or a request meant for somebody else.
 */
export function allowedHosts(listenHost: string, port: number): Set<string> {
  const own = hostForHeader(listenHost);
  const names =
    LOOPBACK_NAMES.has(own) || WILDCARD_HOSTS.has(listenHost) || own.startsWith('127.')
      ? [...LOOPBACK_NAMES, own]
      : [own];
  return new Set(names.filter((name) => !WILDCARD_HOSTS.has(name)).map((name) => `${name}:${port}`));
}

export interface LocalRequestHeaders {
  readonly host?: string;
  readonly origin?: string;
  readonly 'sec-fetch-site'?: string;
  readonly 'sec-fetch-mode'?: string;
}

/**
 * What keeps a web page the developer visits from driving local mode (IAM is not enforced here, and
 * `POST /local/jobs/token-refresh` or `DELETE /vehicles/…` change state): the answer to refuse with, or
 * undefined to go ahead.
 * - `Host` must be one of `allowed` (defeats DNS rebinding).
 * - A browser request from another origin is refused: `Origin` must be our own, and `Sec-Fetch-Site` must be
 *   `same-origin` or `none` (typed in the address bar). The one exception is a top-level GET navigation,
 *   which is how Smartcar Connect brings the owner back to `/oauth/callback` (its answer cannot be read by
 *   the other site, and GET routes other than the callback only read).
 * Non-browser clients (curl, the SDKs, `npm run send-webhook`) send neither header and are unaffected.
 */
export function refuseUnsafeRequest(
  method: string,
  headers: LocalRequestHeaders,
  allowed: ReadonlySet<string>,
): HttpAnswer | undefined {
  const host = headers.host?.trim().toLowerCase();
  if (host === undefined || !allowed.has(host)) return FORBIDDEN_HOST;
  const navigation =
    (method === 'GET' || method === 'HEAD') &&
    headers['sec-fetch-mode'] === 'navigate' &&
    headers.origin === undefined;
  if (navigation) return undefined;
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return FORBIDDEN_CROSS_SITE;
  if (headers.origin !== undefined && headers.origin.toLowerCase() !== `http://${host}`) {
    return FORBIDDEN_CROSS_SITE;
  }
  return undefined;
}
