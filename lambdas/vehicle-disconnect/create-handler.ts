import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { TimeoutError } from '../runtime/deadline.js';
import { json, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';
import { describeSmartcarError, SmartcarManagementError } from '../smartcar/errors.js';
import type { SmartcarGateway } from '../smartcar/gateway.js';
import type { SubscriptionRemover } from '../subscriptions/remover.js';
import type { TokenStore } from '../tokens/token-store.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';

export interface DisconnectDeps {
  readonly links: VehicleLinkStore;
  readonly tokens: Pick<TokenStore, 'deleteGrantIfUnused'>;
  readonly smartcar: Pick<SmartcarGateway, 'deleteConnections'>;
  /**
   * Removes the vehicle's webhook subscriptions before the connection is revoked (never throws: a failure is
   * recorded and counted, and does not block the revocation, which ends deliveries too).
   */
  readonly subscriptions?: SubscriptionRemover;
  readonly smartcarTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/** Errors that mean "Smartcar did not confirm the deletion" (as opposed to our own secret/config failing). */
function isSmartcarFailure(error: unknown): boolean {
  return (
    error instanceof SmartcarManagementError ||
    error instanceof TimeoutError ||
    // fetch's network errors (connection refused/reset, DNS).
    error instanceof TypeError
  );
}

/**
 * DELETE /vehicles/{vehicleId} (IAM), docs/design.md "Disconnect". Smartcar first: until the Management API
 * confirms, nothing changes here (502, safe to retry). Then one transaction marks the profile DISCONNECTED and
 * takes the vehicle off its grant; a grant left without vehicles is deleted with its tokens. Idempotent: an
 * already DISCONNECTED vehicle answers 200 without calling Smartcar again.
 */
export function createDisconnectHandler(deps: DisconnectDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  function failed(status: number, error: string, message: string, vehicleId?: string) {
    countFailure(metrics, 'DisconnectFailed', error);
    logger.info('Disconnect rejected', { status, reason: error, vehicleId });
    return problem(status, error, message);
  }

  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const vehicleId = event.pathParameters?.vehicleId;
    if (vehicleId === undefined || !isValidVehicleId(vehicleId)) {
      return failed(400, 'invalid_vehicle_id', 'vehicleId must be a Smartcar vehicle id');
    }

    let profile;
    try {
      profile = await deps.links.getProfile(vehicleId);
    } catch (error) {
      logger.error('Could not read the vehicle profile', { vehicleId, error: error as Error });
      return failed(503, 'unavailable', 'could not read the vehicle, retry later', vehicleId);
    }
    if (!profile) return failed(404, 'vehicle_not_found', `vehicle ${vehicleId} is not known`, vehicleId);
    if (profile.status === DISCONNECTED) {
      logger.info('Vehicle already disconnected', { vehicleId });
      return json(200, { vehicleId, status: DISCONNECTED });
    }

    if (deps.subscriptions) {
      const { removed, failed } = await deps.subscriptions.unsubscribeAll(vehicleId);
      if (removed + failed > 0) logger.info('Webhook subscriptions removed', { vehicleId, removed, failed });
    }

    try {
      // With the Smartcar user id only this user's connection of the vehicle is removed.
      const { deleted } = await deps.smartcar.deleteConnections(
        { vehicleId, ...(profile.smartcarUserId !== undefined && { userId: profile.smartcarUserId }) },
        deps.smartcarTimeoutMs,
      );
      logger.info('Smartcar connections deleted', { vehicleId, deleted });
    } catch (error) {
      if (isSmartcarFailure(error)) {
        logger.warn('Smartcar did not delete the connection', {
          vehicleId,
          smartcarError: describeSmartcarError(error),
        });
        return failed(
          502,
          'smartcar_unavailable',
          'Smartcar did not confirm the disconnect, retry later',
          vehicleId,
        );
      }
      logger.error('Could not call Smartcar', { vehicleId, error: error as Error });
      return failed(503, 'unavailable', 'could not disconnect the vehicle, retry later', vehicleId);
    }

    let unlinked;
    try {
      unlinked = await deps.links.unlink(vehicleId, now());
    } catch (error) {
      // Smartcar already forgot the connection; a retry calls it again (harmless) and then stores this.
      logger.error('Could not mark the vehicle disconnected', { vehicleId, error: error as Error });
      return failed(503, 'unavailable', 'could not store the disconnect, retry later', vehicleId);
    }
    if (unlinked === undefined)
      return failed(404, 'vehicle_not_found', `vehicle ${vehicleId} is not known`, vehicleId);

    if (unlinked.grantId !== undefined) {
      try {
        const deletedGrant = await deps.tokens.deleteGrantIfUnused(unlinked.grantId);
        if (deletedGrant) logger.info('Deleted grant without vehicles', { grantId: unlinked.grantId });
      } catch (error) {
        // The vehicle is disconnected; an empty grant left behind is garbage for the refresh job's clean-up.
        metrics.addMetric('GrantCleanupFailed', MetricUnit.Count, 1);
        logger.error('Could not delete grant without vehicles', {
          grantId: unlinked.grantId,
          error: error as Error,
        });
      }
    }
    metrics.addMetric('VehiclesDisconnected', MetricUnit.Count, 1);
    logger.info('Vehicle disconnected', { vehicleId, grantId: unlinked.grantId });
    return json(200, { vehicleId, status: DISCONNECTED });
  }

  return middy(handleRequest)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics));
}
