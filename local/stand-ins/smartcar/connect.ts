import { randomUUID } from 'node:crypto';
import {
  escapeHtml,
  html,
  isHttpUrl,
  redirect,
  secretEquals,
  singleParams,
  withParams,
  type Reply,
} from './http.js';
import type { Ctx, Surface } from './router.js';
import { connectionKey, type Grant, type SmartcarState } from './state.js';
import type { ConnectError, FakeSmartcar, FakeUser, FakeVehicle, NextAuthorization } from './types.js';

/**
 * Smartcar Connect: the authorize page (`GET /oauth/authorize`) and its Allow/Deny decision, which send the
 * user back to the redirect URI with a single-use code or a Connect error.
 */

const PERMISSION_PATTERN = /^(?:required:)?((?:read|control)_[a-z0-9_]+)$/;
const CONNECT_ERROR_DESCRIPTIONS: Record<ConnectError, string> = {
  access_denied: 'User denied access to application.',
  configuration_error: 'There has been an error in the configuration of your application.',
  invalid_subscription: "The user's vehicle does not have an active connected services subscription.",
  no_vehicles: 'There are no vehicles associated with the connected services account.',
  server_error: 'Unexpected server error. Please try again.',
  vehicle_incompatible: "The user's vehicle is not compatible.",
};

function isConnectError(value: string): value is ConnectError {
  return Object.hasOwn(CONNECT_ERROR_DESCRIPTIONS, value);
}

function connectErrorRedirect(
  redirectUri: string,
  state: string | undefined,
  error: ConnectError,
  message?: string,
): Reply {
  return redirect(
    withParams(redirectUri, {
      error,
      error_description: CONNECT_ERROR_DESCRIPTIONS[error],
      ...(error === 'configuration_error'
        ? { status_code: '400', error_message: message ?? 'Invalid request.' }
        : {}),
      state,
    }),
  );
}

/** Resolves who Connect authorizes; throws a message for the developer when the request is inconsistent. */
function resolveSubject(
  state: SmartcarState,
  next: NextAuthorization,
): { user: FakeUser; vehicleIds: string[] } {
  let user: FakeUser;
  if (next.userId !== undefined) {
    const existing = state.users.get(next.userId);
    if (!existing) throw new Error(`unknown fake user ${next.userId}; call registerUser first`);
    user = existing;
  } else {
    user = state.registerUser(next.vehicles ? { vehicles: next.vehicles } : {});
  }
  const owned = user.vehicles.map((v) => v.id);
  const vehicleIds = next.vehicleIds ? [...next.vehicleIds] : owned;
  const foreign = vehicleIds.find((id) => !owned.includes(id));
  if (foreign !== undefined) throw new Error(`vehicle ${foreign} does not belong to user ${user.id}`);
  return { user, vehicleIds };
}

/** Connects the grant's vehicles and mints the code the redirect carries. */
function approve(state: SmartcarState, grant: Grant, redirectUri: string): string {
  const connectedAt = new Date(state.now()).toISOString();
  for (const vehicleId of grant.vehicleIds) {
    const key = connectionKey(grant.userId, vehicleId);
    if (!state.connections.has(key))
      state.connections.set(key, { userId: grant.userId, vehicleId, connectedAt });
  }
  state.grants.set(grant.id, grant);
  const code = randomUUID();
  state.codes.set(code, {
    grantId: grant.id,
    redirectUri,
    expiresAt: state.now() + state.settings.codeTtlMs,
    used: false,
  });
  return code;
}

/** `FakeSmartcar#createAuthorizationCode`: an approval without the HTTP round trip. */
export function createAuthorizationCode(
  state: SmartcarState,
  input: Parameters<FakeSmartcar['createAuthorizationCode']>[0],
): ReturnType<FakeSmartcar['createAuthorizationCode']> {
  const subject = resolveSubject(state, input);
  const grant: Grant = {
    id: randomUUID(),
    userId: subject.user.id,
    vehicleIds: subject.vehicleIds,
    scope: [...(input.scope ?? state.settings.defaultScope)],
  };
  if (input.failVehicleList === true) state.failingVehicleLists.add(grant.id);
  return {
    code: approve(state, grant, input.redirectUri),
    userId: subject.user.id,
    vehicleIds: subject.vehicleIds,
  };
}

function handleAuthorize(state: SmartcarState, ctx: Ctx, params: URLSearchParams): Reply {
  const { settings } = state;
  const { values, duplicate } = singleParams(params);
  if (duplicate !== undefined) {
    return html(
      400,
      'Smartcar Connect error',
      `<p>Parameter <code>${escapeHtml(duplicate)}</code> is repeated.</p>`,
    );
  }
  // Without a trustworthy client and redirect URI, Connect shows an error page instead of redirecting
  // (redirecting to an unverified URI would make it an open redirector).
  if (values.client_id === undefined || !secretEquals(values.client_id, settings.clientId)) {
    return html(400, 'Smartcar Connect error', '<p>Unknown or missing <code>client_id</code>.</p>');
  }
  const registered = settings.redirectUris;
  let redirectUri = values.redirect_uri;
  if (redirectUri === undefined && registered?.length === 1) redirectUri = registered[0];
  if (
    redirectUri === undefined ||
    !isHttpUrl(redirectUri) ||
    (registered !== undefined && !registered.includes(redirectUri))
  ) {
    return html(400, 'Smartcar Connect error', '<p>Missing or unregistered <code>redirect_uri</code>.</p>');
  }
  const oauthState = values.state;
  const auto = settings.autoApprove || values.fake_auto === '1' || values.fake_auto === 'true';

  const configurationError = (message: string): Reply => {
    ctx.error = 'configuration_error';
    if (auto) return connectErrorRedirect(redirectUri, oauthState, 'configuration_error', message);
    const exit = withParams(redirectUri, {
      error: 'configuration_error',
      error_description: CONNECT_ERROR_DESCRIPTIONS.configuration_error,
      status_code: '400',
      error_message: message,
      state: oauthState,
    });
    return html(
      400,
      'Smartcar Connect error',
      `<p>${escapeHtml(message)}</p><p><a class="button deny" href="${escapeHtml(exit)}">Exit</a></p>`,
    );
  };

  if (values.response_type !== 'code') return configurationError('response_type must be "code".');
  const mode = values.mode ?? 'live';
  if (!['live', 'test', 'simulated'].includes(mode)) return configurationError(`Unknown mode "${mode}".`);
  let scope: string[];
  if (values.scope === undefined) {
    scope = [...settings.defaultScope];
  } else {
    const items = values.scope.split(' ').filter((s) => s !== '');
    const invalid = items.find((s) => !PERMISSION_PATTERN.test(s));
    if (items.length === 0 || invalid !== undefined) {
      return configurationError(`Invalid scope${invalid === undefined ? '' : ` "${invalid}"`}.`);
    }
    scope = [...new Set(items.map((s) => s.replace(/^required:/, '')))];
  }

  // What this visit authorizes: an explicit fake_user, else the queue, else a brand-new user.
  const forced = values.fake_error;
  const next: NextAuthorization =
    values.fake_user !== undefined ? { userId: values.fake_user } : (state.queue.shift() ?? {});
  const error = forced ?? next.error;
  if (error !== undefined) {
    if (!isConnectError(error)) return configurationError(`Unknown fake_error "${error}".`);
    ctx.error = error;
    return connectErrorRedirect(redirectUri, oauthState, error, 'Forced by the fake.');
  }
  let subject: { user: FakeUser; vehicleIds: string[] };
  try {
    subject = resolveSubject(state, next);
  } catch (e) {
    return configurationError(e instanceof Error ? e.message : String(e));
  }
  if (subject.vehicleIds.length === 0) {
    ctx.error = 'no_vehicles';
    return connectErrorRedirect(redirectUri, oauthState, 'no_vehicles');
  }
  const grant: Grant = { id: randomUUID(), userId: subject.user.id, vehicleIds: subject.vehicleIds, scope };
  if (next.failVehicleList === true || values.fake_fail === 'vehicles')
    state.failingVehicleLists.add(grant.id);

  if (auto) {
    ctx.code = approve(state, grant, redirectUri);
    return redirect(withParams(redirectUri, { code: ctx.code, state: oauthState }));
  }

  const sessionId = randomUUID();
  state.sessions.set(sessionId, {
    redirectUri,
    state: oauthState,
    grant,
    expiresAt: state.now() + settings.codeTtlMs,
  });
  const decision = (d: string) =>
    `/oauth/connect/decision?${new URLSearchParams({ session: sessionId, decision: d })}`;
  const vehicles = subject.vehicleIds
    .map((id) => state.findVehicle(id))
    .filter((v): v is FakeVehicle => v !== undefined)
    .map((v) => `<li>${escapeHtml(`${v.year} ${v.make} ${v.model}`)} <code>${escapeHtml(v.id)}</code></li>`)
    .join('');
  return html(
    200,
    'Smartcar Connect (fake)',
    `<p>Application <code>${escapeHtml(settings.clientId)}</code> (${escapeHtml(mode)} mode) asks for:</p>
<ul>${scope.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>
<p>User <code>${escapeHtml(subject.user.id)}</code>, vehicles:</p><ul>${vehicles}</ul>
<p>You will be sent back to <code>${escapeHtml(redirectUri)}</code>.</p>
<p><a class="button" id="allow" href="${escapeHtml(decision('allow'))}">Allow</a>
<a class="button deny" id="deny" href="${escapeHtml(decision('deny'))}">Deny</a></p>`,
  );
}

function handleDecision(state: SmartcarState, ctx: Ctx, params: URLSearchParams): Reply {
  const sessionId = params.get('session') ?? '';
  const session = state.sessions.get(sessionId);
  // Single use: a reload or a second click must not mint a second code.
  state.sessions.delete(sessionId);
  if (!session || state.now() >= session.expiresAt) {
    return html(
      400,
      'Smartcar Connect error',
      '<p>This Connect session has expired. Start again from the app.</p>',
    );
  }
  if (params.get('decision') === 'allow') {
    ctx.code = approve(state, session.grant, session.redirectUri);
    return redirect(withParams(session.redirectUri, { code: ctx.code, state: session.state }));
  }
  ctx.error = 'access_denied';
  return connectErrorRedirect(session.redirectUri, session.state, 'access_denied');
}

export function connectSurface(state: SmartcarState): Surface {
  return {
    routes: [
      {
        method: 'GET',
        path: '/oauth/authorize',
        route: 'connect',
        run: ({ ctx, url }) => handleAuthorize(state, ctx, url.searchParams),
      },
      {
        method: 'GET',
        path: '/oauth/connect/decision',
        route: 'connect',
        run: ({ ctx, url }) => handleDecision(state, ctx, url.searchParams),
      },
    ],
  };
}
