import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyHandlerV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  allowedHosts,
  fromHandlerResult,
  refuseUnsafeRequest,
  isTextContentType,
  startHttpGateway,
  type HttpGateway,
} from '../../local/runtime/http-gateway.js';
import { freePort } from '../support/ports.js';

let gateway: HttpGateway;
let events: APIGatewayProxyEventV2[];
let nextResult: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

const recording: APIGatewayProxyHandlerV2 = async (event) => {
  events.push(event);
  return nextResult(event);
};

const fn = (name: string) => ({ functionName: name, timeoutMs: 5_000, region: 'us-east-1' });

beforeAll(async () => {
  gateway = await startHttpGateway({
    port: await freePort(),
    maxBodyBytes: 64 * 1024,
    routes: [
      { routeKey: 'POST /webhooks/smartcar', handler: recording, function: fn('receiver') },
      { routeKey: 'GET /vehicles/{vehicleId}', handler: recording, function: fn('read') },
      { routeKey: 'GET /files/{path+}', handler: recording, function: fn('files') },
      { routeKey: 'DELETE /vehicles/{vehicleId}', handler: recording, function: fn('disconnect') },
      { routeKey: 'POST /local/jobs/token-refresh', handler: recording, function: fn('refresh') },
    ],
    onError: () => undefined,
  });
});

afterAll(async () => {
  await gateway?.stop();
});

beforeEach(() => {
  events = [];
  nextResult = async () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' });
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http instead of fetch: repeated headers and exact bytes are under our control. */
function send(
  method: string,
  path: string,
  rawHeaders: [string, string][],
  body?: Buffer,
  hostHeader?: string,
): Promise<RawResponse> {
  const url = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      // Raw header arrays get no automatic Host header; HTTP/1.1 requires one.
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: [['Host', hostHeader ?? url.host], ...rawHeaders].flat(),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const onlyEvent = (): APIGatewayProxyEventV2 => {
  expect(events).toHaveLength(1);
  return events[0] as APIGatewayProxyEventV2;
};

describe('HTTP gateway: request → APIGatewayProxyEventV2', () => {
  it('builds a payload 2.0 event with the exact body text, lowercased and joined headers', async () => {
    // Whitespace, an escaped and a literal non-ASCII character: the bytes must arrive unchanged.
    const body = Buffer.from('{ "eventId" : "e-1",\n  "name":"caf\\u00e9 – é" }', 'utf8');
    await send(
      'POST',
      '/webhooks/smartcar?a=1&b=x%20y&a=2&flag',
      [
        ['Content-Type', 'application/json; charset=utf-8'],
        ['SC-Signature', 'abc123'],
        ['X-Repeated', 'one'],
        ['x-repeated', 'two'],
        ['User-Agent', 'test-agent/1.0'],
        ['Cookie', 'a=1; b=2'],
        ['Connection', 'keep-alive'],
      ],
      body,
    );
    const event = onlyEvent();
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /webhooks/smartcar');
    expect(event.rawPath).toBe('/webhooks/smartcar');
    expect(event.rawQueryString).toBe('a=1&b=x%20y&a=2&flag');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x y', flag: '' });
    expect(event.pathParameters).toBeUndefined();
    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.headers['sc-signature']).toBe('abc123');
    expect(event.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(event.headers['x-repeated']).toBe('one,two');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers.connection).toBeUndefined();
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.headers['x-forwarded-proto']).toBe('http');
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event.isBase64Encoded).toBe(false);
    expect(Buffer.from(event.body ?? '', 'utf8').equals(body)).toBe(true);

    const ctx = event.requestContext;
    expect(ctx.http).toEqual({
      method: 'POST',
      path: '/webhooks/smartcar',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'test-agent/1.0',
    });
    expect(ctx.routeKey).toBe('POST /webhooks/smartcar');
    expect(ctx.stage).toBe('$default');
    expect(ctx.accountId).toMatch(/^\d{12}$/);
    expect(ctx.apiId).toBeTruthy();
    expect(ctx.domainName).toBe('127.0.0.1');
    expect(ctx.requestId).toBeTruthy();
    expect(ctx.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(ctx.timeEpoch - Date.now())).toBeLessThan(5_000);
  });

  it('passes a binary body as base64 with the exact bytes', async () => {
    const body = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x7b, 0x0a]);
    await send('POST', '/webhooks/smartcar', [['Content-Type', 'application/octet-stream']], body);
    const event = onlyEvent();
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64').equals(body)).toBe(true);
  });

  it('base64-encodes a body without Content-Type, and a form body, as HTTP APIs do', async () => {
    await send('POST', '/webhooks/smartcar', [], Buffer.from('{"a":1}'));
    await send(
      'POST',
      '/webhooks/smartcar',
      [['Content-Type', 'application/x-www-form-urlencoded']],
      Buffer.from('a=1'),
    );
    expect(events.map((e) => [e.isBase64Encoded, Buffer.from(e.body ?? '', 'base64').toString()])).toEqual([
      [true, '{"a":1}'],
      [true, 'a=1'],
    ]);
  });

  it('keeps invalid UTF-8 exact even under a text content type (as base64)', async () => {
    const body = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]);
    await send('POST', '/webhooks/smartcar', [['Content-Type', 'application/json']], body);
    const event = onlyEvent();
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64').equals(body)).toBe(true);
  });

  it('omits body, cookies and query parameters when there are none', async () => {
    await send('GET', '/vehicles/abc', []);
    const event = onlyEvent();
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
    expect(event.cookies).toBeUndefined();
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.rawQueryString).toBe('');
  });

  it('extracts and decodes path parameters, greedy ones included', async () => {
    await send('GET', '/vehicles/v%20123?mode=test', []);
    await send('GET', '/files/a/b/c.txt', []);
    expect(events[0]?.routeKey).toBe('GET /vehicles/{vehicleId}');
    expect(events[0]?.pathParameters).toEqual({ vehicleId: 'v 123' });
    expect(events[0]?.rawPath).toBe('/vehicles/v%20123');
    expect(events[0]?.queryStringParameters).toEqual({ mode: 'test' });
    expect(events[1]?.pathParameters).toEqual({ path: 'a/b/c.txt' });
  });

  it('classifies text media types like HTTP APIs', () => {
    expect(isTextContentType('application/json')).toBe(true);
    expect(isTextContentType('Application/JSON; charset=UTF-8')).toBe(true);
    expect(isTextContentType('text/plain')).toBe(true);
    expect(isTextContentType('application/xml')).toBe(true);
    expect(isTextContentType('application/octet-stream')).toBe(false);
    expect(isTextContentType('application/x-www-form-urlencoded')).toBe(false);
    expect(isTextContentType(undefined)).toBe(false);
  });
});

describe('HTTP gateway: handler result → HTTP response', () => {
  it('writes status, headers, cookies and body of a structured result', async () => {
    nextResult = async () => ({
      statusCode: 201,
      headers: { 'Content-Type': 'application/json', 'X-Num': 5 },
      cookies: ['s=1; Path=/', 't=2'],
      body: '{"ok":true}',
    });
    const response = await send('GET', '/vehicles/x', []);
    expect(response.status).toBe(201);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['x-num']).toBe('5');
    expect(response.headers['set-cookie']).toEqual(['s=1; Path=/', 't=2']);
    expect(response.headers['apigw-requestid']).toBeTruthy();
    expect(response.body.toString()).toBe('{"ok":true}');
  });

  it('decodes a base64 result body to bytes', async () => {
    const bytes = Buffer.from([1, 2, 3, 254, 255]);
    nextResult = async () => ({ statusCode: 200, isBase64Encoded: true, body: bytes.toString('base64') });
    const response = await send('GET', '/vehicles/x', []);
    expect(response.body.equals(bytes)).toBe(true);
  });

  it('turns a result without statusCode into a 200 JSON answer', async () => {
    nextResult = async () => ({ hello: 'world' }) as unknown as APIGatewayProxyResultV2;
    const response = await send('GET', '/vehicles/x', []);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body.toString())).toEqual({ hello: 'world' });
    expect(fromHandlerResult('plain').body.toString()).toBe('plain');
  });

  it('answers an unknown route or method with 404 like API Gateway, without invoking', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['GET', '/webhooks/smartcar'],
      ['POST', '/vehicles/x'],
      ['GET', '/vehicles/x/extra'],
    ] as const) {
      const response = await send(method, path, []);
      expect(response.status).toBe(404);
      expect(JSON.parse(response.body.toString())).toEqual({ message: 'Not Found' });
    }
    expect(events).toHaveLength(0);
  });

  it('answers 500 Internal Server Error when the handler throws', async () => {
    nextResult = async () => {
      throw new Error('boom');
    };
    const response = await send('GET', '/vehicles/x', []);
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body.toString())).toEqual({ message: 'Internal Server Error' });
  });

  it('answers 500 for a result with an invalid status code', async () => {
    nextResult = async () => ({ statusCode: 42 });
    const response = await send('GET', '/vehicles/x', []);
    expect(response.status).toBe(500);
  });

  it('answers 413 above the body quota without invoking', async () => {
    const response = await send(
      'POST',
      '/webhooks/smartcar',
      [['Content-Type', 'application/json']],
      Buffer.alloc(64 * 1024 + 1, 0x20),
    );
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body.toString())).toEqual({ message: 'Request Entity Too Large' });
    expect(events).toHaveLength(0);
  });

  it('gives the handler a Lambda-like context', async () => {
    let seen: { name: string; remaining: number; id: string } | undefined;
    const gatewayWithContext = await startHttpGateway({
      port: await freePort(),
      routes: [
        {
          routeKey: 'GET /ctx',
          handler: async (_event, context) => {
            seen = {
              name: context.functionName,
              remaining: context.getRemainingTimeInMillis(),
              id: context.awsRequestId,
            };
            return { statusCode: 204 };
          },
          function: fn('ctx-fn'),
        },
      ],
    });
    try {
      const response = await fetch(`${gatewayWithContext.url}/ctx`);
      expect(response.status).toBe(204);
      expect(seen?.name).toBe('ctx-fn');
      expect(seen?.remaining).toBeGreaterThan(4_000);
      expect(seen?.remaining).toBeLessThanOrEqual(5_000);
      expect(seen?.id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await gatewayWithContext.stop();
    }
  });
});

describe('HTTP gateway: only the developer, never a web page they visit', () => {
  const port = () => new URL(gateway.url).port;

  it('refuses a page on another site that POSTs to the token refresh job or DELETEs a vehicle', async () => {
    const fromPage: [string, string][] = [
      ['Origin', 'https://evil.example'],
      ['Sec-Fetch-Site', 'cross-site'],
      ['Sec-Fetch-Mode', 'no-cors'],
    ];
    const refresh = await send('POST', '/local/jobs/token-refresh', fromPage, Buffer.from('{}'));
    const disconnect = await send('DELETE', '/vehicles/3c1e7f7a-0000-4000-8000-00000000e001', fromPage);
    expect(refresh.status).toBe(403);
    expect(disconnect.status).toBe(403);
    expect(events).toHaveLength(0);
  });

  it('refuses a request whose Host is not its loopback address (DNS rebinding)', async () => {
    const rebound = await send(
      'POST',
      '/local/jobs/token-refresh',
      [],
      Buffer.from('{}'),
      `evil.example:${port()}`,
    );
    const otherPort = await send('GET', '/vehicles/v-1', [], undefined, '127.0.0.1:1');
    expect(rebound.status).toBe(421);
    expect(otherPort.status).toBe(421);
    expect(events).toHaveLength(0);
  });

  it('serves curl-like clients, same-origin pages and localhost', async () => {
    expect((await send('POST', '/local/jobs/token-refresh', [], Buffer.from('{}'))).status).toBe(200);
    const sameOrigin: [string, string][] = [
      ['Origin', `http://localhost:${port()}`],
      ['Sec-Fetch-Site', 'same-origin'],
    ];
    const viaLocalhost = await send('DELETE', '/vehicles/v-1', sameOrigin, undefined, `localhost:${port()}`);
    expect(viaLocalhost.status).toBe(200);
    expect(events).toHaveLength(2);
  });

  it('lets a top-level GET navigation from another site through (Smartcar Connect returning the owner)', async () => {
    const answer = await send('GET', '/vehicles/v-1', [
      ['Sec-Fetch-Site', 'cross-site'],
      ['Sec-Fetch-Mode', 'navigate'],
    ]);
    expect(answer.status).toBe(200);
  });

  it('decides by the listening address: loopback names only when it listens on loopback', () => {
    expect(allowedHosts('127.0.0.1', 3000)).toEqual(
      new Set(['127.0.0.1:3000', 'localhost:3000', '[::1]:3000']),
    );
    expect(allowedHosts('::1', 3000).has('[::1]:3000')).toBe(true);
    expect(allowedHosts('192.168.1.10', 3000)).toEqual(new Set(['192.168.1.10:3000']));
    const allowed = allowedHosts('127.0.0.1', 3000);
    expect(refuseUnsafeRequest('POST', { host: '127.0.0.1:3000' }, allowed)).toBeUndefined();
    expect(refuseUnsafeRequest('POST', {}, allowed)?.statusCode).toBe(421);
    expect(
      refuseUnsafeRequest('POST', { host: '127.0.0.1:3000', 'sec-fetch-site': 'same-site' }, allowed)
        ?.statusCode,
    ).toBe(403);
    // A cross-site form POST that the browser turns into a navigation is still refused: it carries an Origin.
    expect(
      refuseUnsafeRequest(
        'POST',
        {
          host: '127.0.0.1:3000',
          origin: 'null',
          'sec-fetch-mode': 'navigate',
          'sec-fetch-site': 'cross-site',
        },
        allowed,
      )?.statusCode,
    ).toBe(403);
  });
});
