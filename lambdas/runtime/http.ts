import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** A JSON response for API Gateway HTTP APIs (payload format 2.0). */
export function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

/** A 4xx/5xx with a short, safe reason: `{"error":"<code>","message":"<text>"}`. */
export function problem(
  statusCode: number,
  error: string,
  message: string,
): APIGatewayProxyStructuredResultV2 {
  return json(statusCode, { error, message });
}

/** Header lookup that ignores case (API Gateway lowercases them, other callers may not). */
export function header(
  headers: Record<string, string | undefined> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * `base` with `params` set in its query string, through the URL API: existing parameters are kept (one of the
 * same name is replaced), everything is percent-encoded, nothing is concatenated by hand.
 */
export function withQuery(base: string, params: Readonly<Record<string, string>>): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * A 302 for the vehicle owner's browser. `no-store`: the answer to a one-time callback must not be cached;
 * `no-referrer`: the callback URL (which carried the code) is never sent on to the next site.
 */
export function redirect(location: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 302,
    headers: {
      location,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    },
    body: '',
  };
}
