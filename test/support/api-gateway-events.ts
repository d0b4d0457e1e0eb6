import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** API Gateway HTTP API (payload format 2.0) events for calling handlers in-process. */
export interface HttpEventInit {
  /** Route key as configured, e.g. `GET /vehicles/{vehicleId}`. */
  readonly routeKey: string;
  /** The request path; defaults to the route key's path with path parameters filled in. */
  readonly path?: string;
  readonly pathParameters?: Record<string, string>;
  /** Raw query string without `?` (repeated parameters stay repeated); or use `query`. */
  readonly rawQueryString?: string;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
}

export function httpEvent(init: HttpEventInit): APIGatewayProxyEventV2 {
  const [method = 'GET', template = '/'] = init.routeKey.split(' ');
  const path =
    init.path ??
    template.replace(/\{(\w+)\}/g, (_, name: string) =>
      encodeURIComponent(init.pathParameters?.[name] ?? ''),
    );
  const rawQueryString = init.rawQueryString ?? new URLSearchParams(init.query ?? {}).toString();
  // Like API Gateway: repeated parameters are joined with commas.
  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString !== '') {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      const previous = queryStringParameters[key];
      queryStringParameters[key] = previous === undefined ? value : `${previous},${value}`;
    }
  }
  return {
    version: '2.0',
    routeKey: init.routeKey,
    rawPath: path,
    rawQueryString,
    headers: { ...init.headers },
    ...(queryStringParameters && { queryStringParameters }),
    ...(init.pathParameters && { pathParameters: init.pathParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: init.routeKey,
      stage: '$default',
      time: '',
      timeEpoch: Date.now(),
    },
    ...(init.body !== undefined && { body: init.body }),
    isBase64Encoded: init.isBase64Encoded ?? false,
  };
}

/** A Lambda context with a real remaining-time clock. */
export function lambdaContext(functionName = 'fn', timeoutMs = 29_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
  readonly location?: URL;
}

/** Invokes a handler and decodes the answer (JSON body, `location` as a URL). */
export async function invoke(handler: HttpHandler, event: APIGatewayProxyEventV2): Promise<HttpAnswer> {
  const result = await handler(event, lambdaContext());
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(result.headers ?? {})) headers[key.toLowerCase()] = String(value);
  const text = result.body ?? '';
  return {
    status: result.statusCode ?? 200,
    headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    ...(headers.location !== undefined && { location: new URL(headers.location) }),
  };
}
