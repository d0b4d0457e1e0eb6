import type { APIGatewayProxyHandlerV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LOCAL_PAGE_PATHS } from '../config.js';

/**
 * Local stand-ins for the app's two Connect landing pages: where the OAuth callback sends the vehicle owner's
 * browser (`CONNECT_SUCCESS_URL` / `CONNECT_FAILURE_URL`). In production these belong to the app that uses
 * this integration; locally they just show what the callback said, so a Connect can be tried end to end.
 *
 * They are served by the local HTTP API (as extra routes with in-process handlers, not Lambdas). Read-only,
 * no state, every query parameter escaped.
 */

/** What each failure reason means (docs/design.md, "Callback answer"), to help whoever is trying it out. */
const REASONS: Readonly<Record<string, string>> = {
  invalid_state:
    'the state is missing, malformed, unknown, expired or already used (a reload or a replayed callback): ' +
    'start again with POST /connect',
  access_denied: 'the vehicle owner denied access in Smartcar Connect',
  configuration_error: 'Smartcar Connect reported a configuration error of the application',
  invalid_subscription: 'the vehicle has no active connected-services subscription',
  no_vehicles: 'no vehicle was authorized',
  server_error: 'Smartcar Connect reported a server error',
  vehicle_incompatible: 'the vehicle is not compatible',
  connect_error: 'Smartcar Connect returned an unknown error',
  missing_code: 'the callback carried neither a code nor an error',
  invalid_request: 'the callback repeated a parameter',
  exchange_failed:
    'the code exchange failed (with the real Smartcar: check the client id/secret and the redirect URI)',
  smartcar_unavailable:
    'Smartcar did not answer (vehicles or user) in time; the new connection is revoked by the expiry job',
  too_many_vehicles: 'more vehicles than one grant may hold',
  storage_failed: 'storing the tokens or linking the vehicles failed (KMS or DynamoDB): see the local log',
  temporarily_unavailable: 'the state table failed, or an unexpected error: see the local log',
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, inner: string, params: URLSearchParams): APIGatewayProxyStructuredResultV2 {
  const rows = [...params]
    .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td><code>${escapeHtml(value)}</code></td></tr>`)
    .join('');
  const table = rows === '' ? '<p>(no query parameters)</p>' : `<table>${rows}</table>`;
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
th{text-align:left;padding-right:1rem}code{background:#eee;padding:0 .2rem}small{color:#666}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${inner}
<h2>Query parameters</h2>
${table}
<p><small>Smartcar integration, local mode: a stand-in for your app's page
(<code>CONNECT_SUCCESS_URL</code> / <code>CONNECT_FAILURE_URL</code>).</small></p>
</body></html>
`;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    },
    body,
  };
}

function queryOf(rawQueryString: string | undefined): URLSearchParams {
  return new URLSearchParams(rawQueryString ?? '');
}

/** A connect id we show (grant ids are UUIDs); anything else is not echoed into a command. */
const CONNECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * `GET /local/connected?status=pending&connectId=<id>&vehicles=<n>` (or `status=connected` with
 * `connectConfirmation=off`). A pending connect shows the confirm call the app's backend makes.
 */
export const connectedPage: APIGatewayProxyHandlerV2 = async (event) => {
  const params = queryOf(event.rawQueryString);
  const vehicles = params.get('vehicles');
  const count = vehicles !== null && /^\d+$/.test(vehicles) ? Number(vehicles) : undefined;
  const plural = count === 1 ? '' : 's';
  const status = params.get('status');
  const connectId = params.get('connectId');
  if (status === 'pending' && connectId !== null && CONNECT_ID.test(connectId)) {
    const host = event.headers?.host ?? '127.0.0.1:3000';
    const command =
      `curl -s -X POST http://${host}/connect/${connectId}/confirm ` +
      `-d '{"userId":"<the app user logged in on this browser>"}'`;
    return page(
      count === undefined
        ? 'Connect waiting for confirmation'
        : `${count} vehicle${plural} waiting for confirmation`,
      `<p>Connect id <code id="connectId">${escapeHtml(connectId)}</code>. Nothing is linked yet: your app's ` +
        'backend, which knows who is logged in on this browser, confirms the connect for that user:</p>' +
        `<pre><code id="confirm">${escapeHtml(command)}</code></pre>` +
        '<p>The user who started the Connect gets the vehicles; any other user is refused (403) and the ' +
        'connection is revoked at Smartcar. Not confirmed in time, it is revoked by the expiry job ' +
        '(<code>POST /local/jobs/expire-connects</code>).</p>',
      params,
    );
  }
  const title =
    status === 'connected' && count !== undefined
      ? `Connected ${count} vehicle${plural}`
      : 'Connect finished';
  return page(
    title,
    '<p>The vehicles are linked to the app user given to <code>POST /connect</code>. List them with ' +
      '<code>GET /vehicles?userId=&lt;that user id&gt;</code>.</p>',
    params,
  );
};

/** `GET /local/connect-failed?reason=<code>` */
export const connectFailedPage: APIGatewayProxyHandlerV2 = async (event) => {
  const params = queryOf(event.rawQueryString);
  const reason = params.get('reason');
  const explanation = reason !== null && Object.hasOwn(REASONS, reason) ? REASONS[reason] : undefined;
  return page(
    `Connection failed: ${reason ?? 'unknown reason'}`,
    explanation === undefined ? '' : `<p>${escapeHtml(explanation)}.</p>`,
    params,
  );
};

/** The page routes, in the HTTP API's route-key form. */
export const LOCAL_PAGES: readonly {
  readonly routeKey: string;
  readonly handler: APIGatewayProxyHandlerV2;
}[] = [
  { routeKey: `GET ${LOCAL_PAGE_PATHS.connected}`, handler: connectedPage },
  { routeKey: `GET ${LOCAL_PAGE_PATHS.connectFailed}`, handler: connectFailedPage },
];
