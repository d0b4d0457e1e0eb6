import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { APP_USER_ID_RULE, isValidAppUserId } from '../oauth/app-user.js';
import { json, problem } from '../runtime/http.js';
import { isValidVehicleId, vehiclePk, type VehicleMode } from '../vehicles/vehicle-keys.js';
import {
  decodeNextToken,
  DEFAULT_PAGE_SIZE,
  listVehicles,
  MAX_PAGE_SIZE,
  type VehicleListSource,
} from './list.js';
import { toVehicleView } from './read.js';
import type { VehicleItemSource } from './store.js';

export interface VehicleReadDeps {
  readonly items: VehicleItemSource;
  /** Backs `GET /vehicles?userId=`; without it that route answers 404. */
  readonly list?: VehicleListSource;
  /** The signal groups the app uses; default per vehicle, from its grant's permissions (used-signals.ts). */
  readonly usedSignalGroups?: ReadonlySet<string>;
  readonly logger: Logger;
}

/** The route of the user's vehicle list; every other route key is the single-vehicle read. */
export const LIST_ROUTE_KEY = 'GET /vehicles';

/** `?mode=test` reads the TEST partition; absent or `live` the LIVE one; anything else is a client error. */
function modeOf(value: string | undefined): VehicleMode | undefined {
  if (value === undefined || value === '' || value.toLowerCase() === 'live') return 'live';
  return value.toLowerCase() === 'test' ? 'test' : undefined;
}

function pageSizeOf(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return DEFAULT_PAGE_SIZE;
  if (!/^\d{1,3}$/.test(value)) return undefined;
  const size = Number(value);
  return size >= 1 && size <= MAX_PAGE_SIZE ? size : undefined;
}

/**
 * GET /vehicles/{vehicleId} and GET /vehicles?userId= (HTTP API, payload format 2.0; IAM-authorized by API
 * Gateway), one Lambda dispatching on the route key.
 */
export function createVehicleReadHandler(deps: VehicleReadDeps) {
  const { logger } = deps;
  const statusOptions = deps.usedSignalGroups ? { usedSignalGroups: deps.usedSignalGroups } : {};

  async function handleList(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    if (!deps.list) return problem(404, 'route_not_found', 'no such route');
    const query = event.queryStringParameters ?? {};
    const userId = query.userId;
    if (!isValidAppUserId(userId)) {
      logger.info('Vehicle list rejected', { status: 400, reason: 'invalid_user_id' });
      return problem(400, 'invalid_user_id', APP_USER_ID_RULE);
    }
    const limit = pageSizeOf(query.limit);
    if (limit === undefined) {
      return problem(400, 'invalid_limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    let startKey: Record<string, unknown> | undefined;
    if (query.nextToken !== undefined && query.nextToken !== '') {
      startKey = decodeNextToken(query.nextToken, userId);
      if (!startKey)
        return problem(400, 'invalid_next_token', 'nextToken is not one this API issued for userId');
    }
    try {
      const page = await listVehicles(deps.list, userId, limit, startKey, statusOptions);
      logger.info('Vehicle list', { status: 200, appUserId: userId, vehicles: page.vehicles.length });
      return json(200, { userId, vehicles: page.vehicles, nextToken: page.nextToken });
    } catch (error) {
      logger.error('Could not list vehicles', { appUserId: userId, error: error as Error });
      return problem(503, 'unavailable', 'could not read the vehicles, retry later');
    }
  }

  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    if (event.routeKey === LIST_ROUTE_KEY) return handleList(event);
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
    const view = toVehicleView(vehicleId, items, statusOptions);
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
  return middy(handleRequest).use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }));
}
