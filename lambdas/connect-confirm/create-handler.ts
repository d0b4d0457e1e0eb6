import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { confirmConnect } from '../connections/confirm.js';
import type { ConnectionDeps } from '../connections/deps.js';
import { APP_USER_ID_RULE, isValidAppUserId } from '../oauth/app-user.js';
import { parseObject } from '../runtime/json.js';
import { json, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';

export interface ConfirmDeps extends ConnectionDeps {
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/** Connect ids are grant ids (random UUIDs); anything else is not ours and reaches no table. */
const CONNECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const MAX_BODY_BYTES = 4 * 1024;

function bodyText(event: APIGatewayProxyEventV2): string {
  const raw = event.body ?? '';
  return event.isBase64Encoded === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
}

/**
 * POST /connect/{connectId}/confirm (IAM), body `{"userId": "<the app user logged in on the browser that came
 * back from Connect>"}`. 200 `{"userId","vehicles":[{"vehicleId"}]}` for the user who started the Connect
 * (again on a repeat); 403 `connect_user_mismatch` for anyone else, and the pending grant is revoked at
 * Smartcar and deleted; 404 `connect_not_found`; 410 `connect_expired` (the expiry job revokes it).
 */
export function createConfirmHandler(deps: ConfirmDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  function failed(status: number, error: string, message: string, fields: Record<string, unknown> = {}) {
    countFailure(metrics, 'ConnectConfirmFailed', error);
    logger.info('Confirm rejected', { status, reason: error, ...fields });
    return problem(status, error, message);
  }

  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const connectId = event.pathParameters?.connectId;
    if (connectId === undefined || !CONNECT_ID.test(connectId)) {
      return failed(400, 'invalid_connect_id', 'connectId must be the id the success redirect carried');
    }
    const text = bodyText(event);
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
      return failed(413, 'payload_too_large', `body exceeds ${MAX_BODY_BYTES} bytes`);
    }
    const body = parseObject(text);
    if (!body) return failed(400, 'invalid_body', 'body must be a JSON object with a userId');
    const userId = body.userId;
    if (!isValidAppUserId(userId)) return failed(400, 'invalid_user_id', APP_USER_ID_RULE);

    let outcome;
    try {
      outcome = await confirmConnect(deps, { connectId, appUserId: userId, now: now() });
    } catch (error) {
      logger.error('Confirm failed', { grantId: connectId, error: error as Error });
      return failed(503, 'unavailable', 'could not confirm the connect, retry later', { grantId: connectId });
    }
    switch (outcome.kind) {
      case 'not_found':
        return failed(404, 'connect_not_found', 'no such connect (unknown, revoked or expired)', {
          grantId: connectId,
        });
      case 'expired':
        return failed(410, 'connect_expired', 'the connect was not confirmed in time; connect again', {
          grantId: connectId,
        });
      case 'mismatch':
        metrics.addMetric('ConnectUserMismatch', MetricUnit.Count, 1);
        return failed(403, 'connect_user_mismatch', 'this connect was started by another user', {
          grantId: connectId,
          revoked: outcome.revoked,
        });
      case 'confirmed':
        if (outcome.cleanupFailed > 0)
          metrics.addMetric('GrantCleanupFailed', MetricUnit.Count, outcome.cleanupFailed);
        if (outcome.revokeFailed > 0)
          metrics.addMetric('PreviousConnectionRevokeFailed', MetricUnit.Count, outcome.revokeFailed);
        metrics.addMetric('ConnectSucceeded', MetricUnit.Count, 1);
        logger.info('Connect confirmed', { appUserId: userId, grantId: connectId });
        return json(200, {
          userId,
          vehicles: outcome.vehicleIds.map((vehicleId) => ({ vehicleId })),
        });
    }
  }

  return middy(handleRequest)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
