import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyHandlerV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { invokeHandler, type LocalFunction } from './lambda-runtime.js';
import { closeServer, httpOrigin, listen } from '../loopback-server.js';
import {
  allowedHosts,
  INTERNAL_SERVER_ERROR,
  NOT_FOUND,
  refuseUnsafeRequest,
  TOO_LARGE,
  type HttpAnswer,
  type LocalRequestHeaders,
} from './request-guard.js';

export * from './request-guard.js';

/**
 * A local stand-in for API Gateway HTTP API (payload format 2.0) in front of Lambda proxy integrations.
 * It builds the event API Gateway builds, invokes the handler in-process and maps its result back,
 * including API Gateway's own answers: 404 for an unknown route, 500 when the function fails, 413 above
 * the 10 MB payload quota. Authorization (IAM/SigV4) is NOT enforced; instead it answers only requests
 * addressed to its loopback address and refuses cross-site browser requests (refuseUnsafeRequest).
 */

export interface Route {
  /** `"<METHOD> <path>"` exactly as in the HTTP API, e.g. `GET /vehicles/{vehicleId}`; `{name+}` is greedy. */
  readonly routeKey: string;
  readonly handler: APIGatewayProxyHandlerV2;
  readonly function: LocalFunction;
}

export interface HttpGatewayOptions {
  readonly port: number;
  readonly host?: string;
  readonly routes: readonly Route[];
  /** Request body quota; API Gateway's is 10 MB. */
  readonly maxBodyBytes?: number;
  /** Called with each failed invocation (API Gateway logs nothing; CloudWatch would show the function's error). */
  readonly onError?: (routeKey: string, error: unknown) => void;
  readonly accountId?: string;
  readonly apiId?: string;
}

export interface HttpGateway {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Media types an HTTP API hands to Lambda as text; every other type, and a request without Content-Type,
 * arrives base64-encoded with `isBase64Encoded: true` (the split observed on real HTTP APIs).
 */
const TEXT_MEDIA_TYPES = new Set(['application/json', 'application/xml', 'application/javascript']);

export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return mediaType.startsWith('text/') || TEXT_MEDIA_TYPES.has(mediaType);
}

interface CompiledRoute extends Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly parameterNames: readonly string[];
}

function compileRoute(route: Route): CompiledRoute {
  const [method, path] = route.routeKey.split(' ');
  if (!method || !path?.startsWith('/')) throw new Error(`invalid route key: ${route.routeKey}`);
  const parameterNames: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const parameter = /^\{([A-Za-z0-9_.-]+)(\+?)\}$/.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      parameterNames.push(parameter[1] ?? '');
      return parameter[2] === '+' ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { ...route, method: method.toUpperCase(), pattern: new RegExp(`^${source}$`), parameterNames };
}

function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): { route: CompiledRoute; pathParameters: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== method && route.method !== 'ANY') continue;
    const match = route.pattern.exec(path);
    if (!match) continue;
    const pathParameters: Record<string, string> = {};
    route.parameterNames.forEach((name, index) => {
      pathParameters[name] = safeDecode(match[index + 1] ?? '');
    });
    return { route, pathParameters };
  }
  return undefined;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`. */
function apiGatewayTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

/** Connection-level headers: API Gateway terminates the client's connection, so they do not reach Lambda. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface RawRequest {
  readonly method: string;
  /** Request target as sent: path plus optional `?query`. */
  readonly url: string;
  /** Node's `rawHeaders`: alternating names and values, repeats kept, original case. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly httpVersion: string;
  readonly localPort: number;
}

/**
 * Builds the payload-2.0 event for a request. Exported (and pure apart from ids and time) so the shape
 * is unit-tested without a socket.
 */
export function toApiGatewayEvent(
  request: RawRequest,
  routeKey: string,
  pathParameters: Record<string, string> | undefined,
  ids: { accountId: string; apiId: string },
  now: Date = new Date(),
): APIGatewayProxyEventV2 {
  const queryIndex = request.url.indexOf('?');
  const rawPath = queryIndex === -1 ? request.url : request.url.slice(0, queryIndex);
  const rawQueryString = queryIndex === -1 ? '' : request.url.slice(queryIndex + 1);

  // Header names lowercased; a header sent more than once becomes one comma-joined value.
  // Cookies are moved to `cookies`, as API Gateway does for payload 2.0.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] ?? '').toLowerCase();
    const value = request.rawHeaders[i + 1] ?? '';
    if (HOP_BY_HOP.has(name)) continue;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const sourceIp = request.sourceIp.replace(/^::ffff:/, '');
  const traceId = `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-port'] = String(request.localPort);
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] = traceId;

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString !== '') {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      const previous = queryStringParameters[key];
      queryStringParameters[key] = previous === undefined ? value : `${previous},${value}`;
    }
  }

  // Text media types travel as text, everything else as base64. A "text" body that is not valid UTF-8 is
  // passed as base64 too, so the handler always gets the exact bytes (a string would replace them with U+FFFD).
  let body: string | undefined;
  let isBase64Encoded = false;
  if (request.body.length > 0) {
    const text = isTextContentType(headers['content-type']) ? decodeUtf8(request.body) : undefined;
    if (text !== undefined) {
      body = text;
    } else {
      body = request.body.toString('base64');
      isBase64Encoded = true;
    }
  }

  const hostHeader = headers.host ?? `127.0.0.1:${request.localPort}`;
  const domainName = hostHeader.replace(/:\d+$/, '');
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: ids.accountId,
      apiId: ids.apiId,
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: request.method,
        path: rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(10).toString('base64').replace(/[+/]/g, 'A'),
      routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(pathParameters && Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded,
  };
  return event;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function isStructured(result: APIGatewayProxyResultV2): result is APIGatewayProxyStructuredResultV2 {
  return typeof result === 'object' && result !== null && 'statusCode' in result;
}

/**
 * Maps a handler's result to the HTTP answer the way payload 2.0 does: a structured result is used as is;
 * anything else (a string, an object without `statusCode`) is a 200 JSON answer with it as the body.
 * A result API Gateway could not use (bad status code) is its 500.
 */
export function fromHandlerResult(result: APIGatewayProxyResultV2 | undefined): HttpAnswer {
  if (result === undefined || !isStructured(result)) {
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }
  const statusCode = Number(result.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return INTERNAL_SERVER_ERROR;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  // Not part of the 2.0 response format, but tolerated: each value becomes its own header line.
  const multi = (result as { multiValueHeaders?: Record<string, readonly (string | number | boolean)[]> })
    .multiValueHeaders;
  for (const [name, values] of Object.entries(multi ?? {})) {
    const key = name.toLowerCase();
    const existing = headers[key];
    const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
    headers[key] = [...list, ...values.map(String)];
  }
  if (result.cookies && result.cookies.length > 0) {
    const existing = headers['set-cookie'];
    const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
    headers['set-cookie'] = [...list, ...result.cookies];
  }
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : result.isBase64Encoded
        ? Buffer.from(result.body, 'base64')
        : Buffer.from(result.body, 'utf8');
  return { statusCode, headers, body };
}

function writeAnswer(res: ServerResponse, answer: HttpAnswer, requestId: string): void {
  res.statusCode = answer.statusCode;
  for (const [name, value] of Object.entries(answer.headers)) {
    if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
    res.setHeader(name, value);
  }
  res.setHeader('content-length', answer.body.length);
  res.setHeader('apigw-requestid', requestId);
  res.end(answer.body);
}

/** Reads the body up to `limit` bytes; `undefined` when the request is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    // A client that goes away mid-body: nobody to answer (settling twice is a no-op after 'end').
    req.on('close', () => {
      if (!req.complete) reject(new ClientGoneError());
    });
  });
}

class ClientGoneError extends Error {}

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const host = options.host ?? '127.0.0.1';
  const routes = options.routes.map(compileRoute);
  const limit = options.maxBodyBytes ?? API_GATEWAY_MAX_BODY_BYTES;
  const ids = { accountId: options.accountId ?? '000000000000', apiId: options.apiId ?? 'local' };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const body = await readBody(req, limit);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      writeAnswer(res, TOO_LARGE, requestId);
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const refusal = refuseUnsafeRequest(
      method,
      req.headers as LocalRequestHeaders,
      allowedHosts(host, req.socket.localPort ?? 0),
    );
    if (refusal) {
      writeAnswer(res, refusal, requestId);
      return;
    }
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const matched = matchRoute(routes, method, path);
    if (!matched) {
      writeAnswer(res, NOT_FOUND, requestId);
      return;
    }
    const event = toApiGatewayEvent(
      {
        method,
        url,
        rawHeaders: req.rawHeaders,
        body,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        httpVersion: req.httpVersion,
        localPort: req.socket.localPort ?? 0,
      },
      matched.route.routeKey,
      matched.pathParameters,
      ids,
    );
    let answer: HttpAnswer;
    try {
      const result = await invokeHandler(matched.route.handler, event, matched.route.function);
      answer = fromHandlerResult(result);
    } catch (error) {
      options.onError?.(matched.route.routeKey, error);
      answer = INTERNAL_SERVER_ERROR;
    }
    writeAnswer(res, answer, event.requestContext.requestId);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ClientGoneError) return;
      options.onError?.('(gateway)', error);
      if (!res.headersSent) writeAnswer(res, INTERNAL_SERVER_ERROR, randomUUID());
      else res.destroy();
    });
  });
  const port = await listen(server, options.port, host);
  return {
    url: httpOrigin(host, port),
    port,
    // In-flight requests get a moment to finish; then the sockets are closed.
    stop: () => closeServer(server, { graceMs: 2_000 }),
  };
}
