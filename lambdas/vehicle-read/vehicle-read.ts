import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problem } from '../shared/http.js';
import { isValidVehicleId, vehiclePk, type VehicleMode } from '../shared/vehicle-keys.js';
import { toVehicleView } from './read.js';
import type { VehicleItemSource } from './store.js';

export interface VehicleReadDeps {
  readonly items: VehicleItemSource;
  readonly logger: Logger;
}

/** `?mode=test` reads the TEST partition; absent or `live` the LIVE one; anything else is a client error. */
function modeOf(value: string | undefined): VehicleMode | undefined {
  if (value === undefined || value === '' || value.toLowerCase() === 'live') return 'live';
  return value.toLowerCase() === 'test' ? 'test' : undefined;
}

/** GET /vehicles/{vehicleId} (HTTP API, payload format 2.0; IAM-authorized by API Gateway). */
export function createVehicleReadHandler(deps: VehicleReadDeps) {
  const { logger } = deps;
  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const vehicleId = event.pathParameters?.vehicleId;
    if (vehicleId === undefined || !isValidVehicleId(vehicleId)) {
      logger.info('Vehicle read rejected', { status: 400, reason: 'invalid_vehicle_id' });
      return problem(400, 'invalid_vehicle_id', 'vehicleId must be a Smartcar vehicle id');
    }
    const mode = modeOf(event.queryStringParameters?.mode);
    if (mode === undefined) {
      logger.info('Vehicle read rejected', { status: 400, reason: 'invalid_mode', vehicleId });
      return problem(400, 'invalid_mode', 'mode must be "live" or "test"');
    }
    let items;
    try {
      items = await deps.items.load(vehiclePk(vehicleId, mode));
    } catch (error) {
      logger.error('Could not read vehicle state', { vehicleId, mode, error: error as Error });
      return problem(503, 'unavailable', 'could not read the vehicle state, retry later');
    }
    const view = toVehicleView(vehicleId, items);
    if (view === undefined) {
      logger.info('Vehicle read', { status: 404, vehicleId, mode });
      return problem(404, 'vehicle_not_found', `no state is stored for vehicle ${vehicleId} (mode ${mode})`);
    }
    logger.info('Vehicle read', {
      status: 200,
      vehicleId,
      mode,
      signals: Object.keys(view.signals).length,
      errors: view.errors.length,
    });
    return json(200, view);
  }
  return middy(handleRequest).use(injectLambdaContext(logger, { resetKeys: true }));
}
