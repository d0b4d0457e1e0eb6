import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problem } from '../runtime/http.js';
import { newState, type OAuthStateStore } from '../oauth/oauth-state.js';
import type { SmartcarGateway } from '../smartcar/gateway.js';
import { SecretNotConfiguredError } from '../smartcar/secret.js';
import { parseConnectRequest } from './request.js';

export interface ConnectDeps {
  readonly states: OAuthStateStore;
  readonly smartcar: SmartcarGateway;
  /** Used when the request names no scopes; empty = let Connect use the Dashboard's Vehicle Access setting. */
  readonly defaultScopes: readonly string[];
  /** Recorded on the state (the Connect URL's `mode` comes from the AuthClient, configured the same way). */
  readonly mode: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** The answer must not be cached anywhere: it carries a single-use state. */
function noStore(response: APIGatewayProxyStructuredResultV2): APIGatewayProxyStructuredResultV2 {
  return { ...response, headers: { ...response.headers, 'cache-control': 'no-store' } };
}

/**
 * POST /connect (IAM): starts a Connect for an app user. Stores a single-use state bound to the user (10 min)
 * and answers the Connect URL to send the user's browser to: `{"url","state","expiresAt"}`. Nothing is stored
 * for a 4xx. The state is never logged.
 */
export function createConnectHandler(deps: ConnectDeps) {
  const { logger } = deps;
  const now = deps.now ?? Date.now;

  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const request = parseConnectRequest(event.body, event.isBase64Encoded === true);
    if (!request.ok) {
      logger.info('Connect request rejected', { status: request.status, reason: request.error });
      return noStore(problem(request.status, request.error, request.message));
    }
    const scopes = request.scopes ?? deps.defaultScopes;

    // The URL first: if the Smartcar secret cannot be read, nothing has been stored.
    const state = newState();
    let url: string;
    try {
      url = await deps.smartcar.connectUrl(scopes, state);
    } catch (error) {
      if (error instanceof SecretNotConfiguredError) {
        // Fail closed: a Connect URL with the placeholder client id could never complete.
        logger.error('The Smartcar secret still holds the placeholder; Connect is unavailable', {
          fields: error.fields,
        });
        return noStore(problem(503, 'not_configured', 'Smartcar Connect is not configured yet'));
      }
      logger.error('Could not build the Connect URL', { appUserId: request.userId, error: error as Error });
      return noStore(problem(503, 'unavailable', 'could not start Connect, retry later'));
    }

    let record;
    try {
      record = await deps.states.create({
        state,
        appUserId: request.userId,
        scopes,
        mode: deps.mode,
        now: now(),
      });
    } catch (error) {
      logger.error('Could not store the OAuth state', { appUserId: request.userId, error: error as Error });
      return noStore(problem(503, 'unavailable', 'could not start Connect, retry later'));
    }
    logger.info('Connect started', { appUserId: request.userId, scopes: scopes.length, mode: deps.mode });
    return noStore(
      json(200, { url, state: record.state, expiresAt: new Date(record.expiresAt * 1000).toISOString() }),
    );
  }

  return middy(handleRequest).use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }));
}
