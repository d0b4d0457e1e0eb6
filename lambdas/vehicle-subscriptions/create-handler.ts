import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problem } from '../runtime/http.js';
import type { SubscriptionScheduler } from '../subscriptions/scheduler.js';
import type { SubscriptionStore } from '../subscriptions/subscription.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import { DISCONNECTED } from '../vehicles/vehicle-status.js';

/**
 * The job's event: `aws lambda invoke --payload '{"allVehicles":true}'` (locally `POST /local/jobs/subscriptions`).
 * It answers like the route does, `{statusCode: 200, body: "<JobSummary JSON>"}`, so the Lambda has one type.
 */
export interface AllVehiclesJob {
  readonly allVehicles: true;
}

export interface JobSummary {
  readonly vehicles: number;
  readonly queued: number;
  readonly failed: number;
}

export interface VehicleSubscriptionsDeps {
  readonly links: Pick<VehicleLinkStore, 'getProfile'>;
  readonly store: Pick<SubscriptionStore, 'list'>;
  /** Undefined when SMARTCAR_WEBHOOK_IDS is empty (nothing to subscribe to). */
  readonly scheduler: SubscriptionScheduler | undefined;
  /** Pages of the ids of every linked (not DISCONNECTED) vehicle. */
  readonly linkedVehicles: () => AsyncIterable<readonly string[]>;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

function isJob(event: unknown): event is AllVehiclesJob {
  return (
    typeof event === 'object' && event !== null && (event as Record<string, unknown>).allVehicles === true
  );
}

/**
 * Re-runs the subscription of the configured webhooks: `POST /vehicles/{vehicleId}/subscriptions` (IAM) for one
 * vehicle, every configured webhook again (ACTIVE ones too: subscribing twice is harmless); the job
 * `{"allVehicles": true}` for every linked vehicle, only where a subscription is not ACTIVE yet (e.g. a webhook
 * id added after the vehicle was linked).
 */
export function createVehicleSubscriptionsHandler(deps: VehicleSubscriptionsDeps) {
  const { logger } = deps;

  async function runJob(): Promise<JobSummary> {
    let vehicles = 0;
    let queued = 0;
    let failed = 0;
    if (!deps.scheduler) {
      logger.info('No webhook ids configured: nothing to subscribe');
      return { vehicles, queued, failed };
    }
    for await (const page of deps.linkedVehicles()) {
      vehicles += page.length;
      const result = await deps.scheduler.onLinked(page);
      queued += result.queued;
      failed += result.failed;
    }
    logger.info('Subscription job done', { vehicles, queued, failed });
    return { vehicles, queued, failed };
  }

  async function rerun(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const vehicleId = event.pathParameters?.vehicleId;
    if (vehicleId === undefined || !isValidVehicleId(vehicleId)) {
      return problem(400, 'invalid_vehicle_id', 'vehicleId must be a Smartcar vehicle id');
    }
    if (!deps.scheduler) {
      return problem(409, 'no_webhooks_configured', 'SMARTCAR_WEBHOOK_IDS is empty: nothing to subscribe to');
    }
    try {
      const profile = await deps.links.getProfile(vehicleId);
      if (!profile) return problem(404, 'vehicle_not_found', `vehicle ${vehicleId} is not known`);
      if (profile.grantId === undefined || profile.status === DISCONNECTED) {
        return problem(409, 'vehicle_not_connected', `vehicle ${vehicleId} is not connected through Connect`);
      }
      const { queued, failed } = await deps.scheduler.onLinked([vehicleId], { force: true });
      if (failed > 0) return problem(503, 'unavailable', 'could not queue every subscription, retry later');
      const subscriptions = (await deps.store.list(vehicleId)).map((record) => ({
        webhookId: record.webhookId,
        status: record.status,
        updatedAt: record.updatedAt,
      }));
      logger.info('Subscriptions re-run', { vehicleId, queued });
      return json(202, { vehicleId, queued, subscriptions });
    } catch (error) {
      logger.error('Could not re-run the subscriptions', { vehicleId, error: error as Error });
      return problem(503, 'unavailable', 'could not re-run the subscriptions, retry later');
    }
  }

  async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const given: unknown = event;
    return isJob(given) ? json(200, await runJob()) : rerun(event);
  }

  return middy(handle)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(deps.metrics));
}
