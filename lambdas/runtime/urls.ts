import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

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
