import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { connectedPage, connectFailedPage, LOCAL_PAGES } from '../../local/routes/pages.js';
import { httpEvent } from '../support/api-gateway-events.js';

async function render(
  handler: typeof connectedPage,
  rawQueryString: string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const route = LOCAL_PAGES.find((page) => page.handler === handler);
  const event = httpEvent({ routeKey: route?.routeKey ?? 'GET /', rawQueryString });
  const result = await handler(event, {} as Context, () => undefined);
  if (typeof result !== 'object' || result === null) throw new Error('expected a structured result');
  return result;
}

describe('local Connect landing pages', () => {
  it('says how many vehicles were connected and shows the query', async () => {
    const page = await render(connectedPage, 'status=connected&vehicles=2');
    expect(page.statusCode).toBe(200);
    expect(page.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers?.['cache-control']).toBe('no-store');
    expect(page.body).toContain('<title>Connected 2 vehicles</title>');
    expect(page.body).toContain('<h1>Connected 2 vehicles</h1>');
    expect(page.body).toContain('<tr><th>vehicles</th><td><code>2</code></td></tr>');
    expect((await render(connectedPage, 'status=connected&vehicles=1')).body).toContain(
      '<h1>Connected 1 vehicle</h1>',
    );
    expect((await render(connectedPage, '')).body).toContain('<h1>Connect finished</h1>');
  });

  it('names and explains the failure reason', async () => {
    const page = await render(connectFailedPage, 'reason=invalid_state');
    expect(page.body).toContain('<h1>Connection failed: invalid_state</h1>');
    expect(page.body).toContain('already used');
    expect((await render(connectFailedPage, 'reason=access_denied')).body).toContain('denied access');
    expect((await render(connectFailedPage, '')).body).toContain(
      '<h1>Connection failed: unknown reason</h1>',
    );
  });

  it('escapes whatever the query holds', async () => {
    const page = await render(connectFailedPage, `reason=${encodeURIComponent('<script>x</script>')}&a"=b'`);
    expect(page.body).not.toContain('<script>');
    expect(page.body).toContain('&#60;script&#62;x&#60;/script&#62;');
    expect(page.body).toContain('<th>a&#34;</th><td><code>b&#39;</code></td>');
    expect(page.headers?.['content-security-policy']).toContain("default-src 'none'");
  });

  it('serves them under /local/', () => {
    expect(LOCAL_PAGES.map((p) => p.routeKey)).toEqual(['GET /local/connected', 'GET /local/connect-failed']);
  });
});
