import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { basicCredentials, json, oauthError, secretEquals, singleParams, type Reply } from './http.js';
import type { Ctx, Surface } from './router.js';
import type { SmartcarState } from './state.js';

/**
 * The token endpoint (`POST /oauth/token`): exchanges a Connect code, or a refresh token, for a new token
 * pair. Refresh tokens rotate; the previous one keeps working for `refreshReuseGraceSeconds` after first use.
 */

function issueTokens(state: SmartcarState, grantId: string, requestId: string): Reply {
  const { settings } = state;
  const accessToken = randomUUID();
  const refreshToken = randomUUID();
  state.accessTokens.set(accessToken, { grantId, expiresAt: state.now() + settings.accessTtlMs });
  state.refreshTokens.set(refreshToken, {
    grantId,
    expiresAt: state.now() + settings.refreshTtlMs,
    rotatedAt: undefined,
  });
  // The shape Smartcar answers; the SDK maps access_token/refresh_token and turns expires_in into
  // `expiration` (it computes `refreshExpiration` as now + 60 days itself).
  return json(
    200,
    {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: settings.accessTtlMs / 1000,
      refresh_token: refreshToken,
    },
    requestId,
    { 'cache-control': 'no-store', pragma: 'no-cache' },
  );
}

function handleToken(state: SmartcarState, ctx: Ctx, req: IncomingMessage, text: string): Reply {
  const { settings } = state;
  const fail = (status: number, error: string, description: string) => {
    ctx.error = error;
    return oauthError(ctx.requestId, status, error, description);
  };
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    return fail(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
  }
  const { values: form, duplicate } = singleParams(new URLSearchParams(text));
  if (duplicate !== undefined) return fail(400, 'invalid_request', `Parameter ${duplicate} is repeated.`);

  const credentials = basicCredentials(req.headers.authorization);
  if (
    !credentials ||
    !secretEquals(credentials[0], settings.clientId) ||
    !secretEquals(credentials[1], settings.clientSecret)
  ) {
    return fail(401, 'invalid_client', 'Invalid client credentials.');
  }

  if (form.grant_type === 'authorization_code') {
    const record = form.code === undefined ? undefined : state.codes.get(form.code);
    if (!record || record.used || state.now() >= record.expiresAt) {
      return fail(400, 'invalid_grant', 'Invalid or expired authorization code.');
    }
    if (form.redirect_uri !== record.redirectUri) {
      return fail(400, 'invalid_grant', 'redirect_uri does not match the one used in Connect.');
    }
    record.used = true;
    return issueTokens(state, record.grantId, ctx.requestId);
  }

  if (form.grant_type === 'refresh_token') {
    const token = form.refresh_token ?? '';
    const record = state.refreshTokens.get(token);
    const tokenState = state.refreshState(token);
    if (!record || tokenState === 'unknown' || tokenState === 'expired' || tokenState === 'revoked') {
      return fail(400, 'invalid_grant', 'Invalid or expired refresh token.');
    }
    if (tokenState === 'rotated') {
      return fail(400, 'invalid_grant', 'Refresh token has already been used.');
    }
    // Rotation: the old token stays usable only within the grace window counted from its first use.
    record.rotatedAt ??= state.now();
    return issueTokens(state, record.grantId, ctx.requestId);
  }

  return fail(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token.');
}

export function tokenSurface(state: SmartcarState): Surface {
  return {
    routes: [
      {
        method: 'POST',
        path: '/oauth/token',
        route: 'token',
        run: ({ ctx, req, body }) => handleToken(state, ctx, req, body),
      },
    ],
    note: (ctx, _req, body) => {
      const form = new URLSearchParams(body);
      ctx.grantType = form.get('grant_type') ?? undefined;
      ctx.code = form.get('code') ?? undefined;
      ctx.refreshToken = form.get('refresh_token') ?? undefined;
    },
  };
}
