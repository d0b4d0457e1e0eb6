import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ConnectionDeps } from '../connections/deps.js';
import { disconnectVehicle, removeUser } from '../connections/disconnect.js';
import { NO_CONNECTION_HOOKS, type ConnectionHooks } from '../connections/hooks.js';
import { AmbiguousConnectionError } from '../connections/revoke.js';
import { isValidAppUserId, APP_USER_ID_RULE } from '../oauth/app-user.js';
import { TimeoutError } from '../runtime/deadline.js';
import { json, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';
import { describeSmartcarError, SmartcarManagementError } from '../smartcar/errors.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';

export interface DisconnectDeps extends Omit<ConnectionDeps, 'hooks'> {
  /** @default no hooks */
  readonly hooks?: ConnectionHooks;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/** The route keys this Lambda serves (one function: both end connections the same way). */
export const DISCONNECT_VEHICLE_ROUTE = 'DELETE /vehicles/{vehicleId}';
export const REMOVE_USER_ROUTE = 'DELETE /users/{userId}';

/** Errors that mean "Smartcar did not confirm" (as opposed to our own secret/config/DynamoDB failing). */
function isSmartcarFailure(error: unknown): boolean {
  return (
    error instanceof SmartcarManagementError ||
    error instanceof TimeoutError ||
    // fetch's network errors (connection refused/reset, DNS).
    error instanceof TypeError
  );
}

/**
 * DELETE /vehicles/{vehicleId} and DELETE /users/{userId} (IAM), docs/design.md "Disconnect" and "Removing a
 * user". Smartcar first: until the Management API confirms, nothing changes here (502, safe to retry). Only
 * this user's connection is deleted (`vehicle_id` and `user_id`, always). Idempotent: an already DISCONNECTED
 * vehicle answers 200 without calling Smartcar again; a user removal that failed part-way answers 5xx and a
 * retry finishes it.
 */
export function createDisconnectHandler(deps: DisconnectDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const connections: ConnectionDeps = { ...deps, hooks: deps.hooks ?? NO_CONNECTION_HOOKS };

  function failed(status: number, error: string, message: string, fields: Record<string, unknown> = {}) {
    countFailure(metrics, 'DisconnectFailed', error);
    logger.info('Disconnect rejected', { status, reason: error, ...fields });
    return problem(status, error, message);
  }

  /** The 5xx for an error thrown part-way: 502 when Smartcar did not confirm, 503 for our own failures. */
  function unavailable(error: unknown, fields: Record<string, unknown>) {
    if (isSmartcarFailure(error)) {
      logger.warn('Smartcar did not confirm', { ...fields, smartcarError: describeSmartcarError(error) });
      return failed(
        502,
        'smartcar_unavailable',
        'Smartcar did not confirm the disconnect, retry later',
        fields,
      );
    }
    logger.error('Disconnect failed', { ...fields, error: error as Error });
    return failed(503, 'unavailable', 'could not disconnect, retry later', fields);
  }

  async function disconnect(vehicleId: string | undefined): Promise<APIGatewayProxyStructuredResultV2> {
    if (vehicleId === undefined || !isValidVehicleId(vehicleId)) {
      return failed(400, 'invalid_vehicle_id', 'vehicleId must be a Smartcar vehicle id');
    }
    let outcome;
    try {
      outcome = await disconnectVehicle(connections, vehicleId, now());
    } catch (error) {
      if (error instanceof AmbiguousConnectionError) {
        return failed(
          409,
          'ambiguous_connection',
          'several Smartcar users are connected to this vehicle and none is known to be this one',
          { vehicleId },
        );
      }
      return unavailable(error, { vehicleId });
    }
    switch (outcome.kind) {
      case 'not_found':
      case 'not_owned':
        return failed(404, 'vehicle_not_found', `vehicle ${vehicleId} is not known`, { vehicleId });
      case 'relinked':
        return failed(409, 'vehicle_relinked', 'the vehicle was connected again meanwhile; that link stays', {
          vehicleId,
        });
      case 'already_disconnected':
        logger.info('Vehicle already disconnected', { vehicleId });
        return json(200, { vehicleId, status: DISCONNECTED });
      case 'disconnected':
        if (outcome.cleanupFailed) metrics.addMetric('GrantCleanupFailed', MetricUnit.Count, 1);
        metrics.addMetric('VehiclesDisconnected', MetricUnit.Count, 1);
        logger.info('Vehicle disconnected', { vehicleId, grantId: outcome.grantId });
        return json(200, { vehicleId, status: DISCONNECTED });
    }
  }

  async function remove(userId: string | undefined): Promise<APIGatewayProxyStructuredResultV2> {
    if (!isValidAppUserId(userId)) return failed(400, 'invalid_user_id', APP_USER_ID_RULE);
    try {
      const removed = await removeUser(connections, userId, now());
      metrics.addMetric('VehiclesDisconnected', MetricUnit.Count, removed.vehiclesDisconnected);
      metrics.addMetric('UsersRemoved', MetricUnit.Count, 1);
      logger.info('App user removed', { appUserId: userId, ...removed });
      return json(200, { userId, ...removed });
    } catch (error) {
      if (error instanceof AmbiguousConnectionError) {
        return failed(
          409,
          'ambiguous_connection',
          `vehicle ${error.vehicleId} has connections of several Smartcar users; disconnect it by hand`,
          { appUserId: userId, vehicleId: error.vehicleId },
        );
      }
      return unavailable(error, { appUserId: userId });
    }
  }

  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    if (event.routeKey === REMOVE_USER_ROUTE) return remove(event.pathParameters?.userId);
    return disconnect(event.pathParameters?.vehicleId);
  }

  return middy(handleRequest)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics));
}
