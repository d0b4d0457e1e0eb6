import { json, type Reply, v2ErrorBody, validationError } from './http.js';
import type { RouteRequest, Surface } from './router.js';
import type { Grant } from './state.js';
import type { CommandFailure, FakeVehicle, FakeVehicleState } from './types.js';

/**
 * Vehicle commands of the fake (`POST /v2.0/vehicles/{id}/security`, `/charge`, `/charge/limit`), the
 * permissions read (`GET /v2.0/vehicles/{id}/permissions`), and per-vehicle command failures, so every branch of
 * the command Lambda can be tried by hand: `failCommand(vehicleId, {error: 'DOOR_OPEN'})` in tests, or in local
 * mode `POST {fake}/fake/vehicles/{id}/command-failures` with the same JSON.
 *
 * `{error: 'TIMEOUT', delayMs}` answers late but still carries the command out, like a real vehicle whose cloud
 * was slow: exactly the case where a caller must not send it again.
 */

const DOCS = 'https://smartcar.com/docs/errors/api-errors';
const SUCCESS = { status: 'success', message: 'Successfully sent request to vehicle' };
const DEFAULT_TIMEOUT_DELAY_MS = 40_000;
const DEFAULT_RETRY_AFTER_SECONDS = 60;
const MAX_DELAY_MS = 120_000;

/** Smartcar's documented VEHICLE_STATE codes ("API Errors" reference). */
const VEHICLE_STATE_CODES = new Set([
  'ASLEEP',
  'CHARGING_IN_PROGRESS',
  'CHARGING_PLUG_NOT_CONNECTED',
  'DOOR_OPEN',
  'FULLY_CHARGED',
  'NOT_CHARGING',
  'CHARGE_FAULT',
  'HOOD_OPEN',
  'IGNITION_ON',
  'IN_MOTION',
  'REMOTE_ACCESS_DISABLED',
  'TRUNK_OPEN',
  'UNKNOWN',
  'UNREACHABLE',
  'VEHICLE_OFFLINE_FOR_SERVICE',
]);
const OTHER_ERRORS = [
  'RATE_LIMIT',
  'VIRTUAL_KEY_REQUIRED',
  'BILLING',
  'COMPATIBILITY',
  'SERVER',
  'UPSTREAM',
  'TIMEOUT',
];
export const COMMAND_FAILURE_NAMES: readonly string[] = [...VEHICLE_STATE_CODES, ...OTHER_ERRORS];

function errorReply(
  requestId: string,
  status: number,
  fields: { type: string; code: string | null; description: string; docPath: string },
  resolution: { type: string | null; url?: string },
  headers: Record<string, string> = {},
): Reply {
  const body = {
    ...(v2ErrorBody(requestId, status, { ...fields, resolution: null }) as Record<string, unknown>),
    docURL: `${DOCS}/${fields.docPath}`,
    resolution,
  };
  return json(status, body, requestId, headers);
}

/** The Smartcar answer a named failure stands for (TIMEOUT is handled by the caller: it delays). */
function failureReply(requestId: string, failure: CommandFailure): Reply {
  const name = failure.error;
  if (VEHICLE_STATE_CODES.has(name)) {
    return errorReply(
      requestId,
      409,
      {
        type: 'VEHICLE_STATE',
        code: name,
        description: `The vehicle cannot carry out the request (${name}).`,
        docPath: `vehicle-state-errors#${name.toLowerCase().replace(/_/g, '-')}`,
      },
      { type: 'RETRY_LATER' },
    );
  }
  switch (name) {
    case 'RATE_LIMIT':
      return errorReply(
        requestId,
        429,
        {
          type: 'RATE_LIMIT',
          code: 'VEHICLE',
          description: 'You have reached the rate limit for this vehicle.',
          docPath: 'rate-limit-errors#vehicle',
        },
        { type: 'RETRY_LATER' },
        { 'retry-after': String(failure.retryAfter ?? DEFAULT_RETRY_AFTER_SECONDS) },
      );
    case 'VIRTUAL_KEY_REQUIRED':
      return errorReply(
        requestId,
        400,
        {
          type: 'CONNECTED_SERVICES_ACCOUNT',
          code: 'VIRTUAL_KEY_REQUIRED',
          description:
            'The vehicle owner needs to grant additional access to Smartcar in order to perform this request.',
          docPath: 'connected-services-account-errors#virtual-key-required',
        },
        { type: 'ACTION_REQUIRED', url: 'https://www.tesla.com/_ak/smartcar.com' },
      );
    case 'BILLING':
      return errorReply(
        requestId,
        430,
        {
          type: 'BILLING',
          code: 'VEHICLE_REQUEST_LIMIT',
          description: 'The vehicle request limit of your plan was reached.',
          docPath: 'billing-errors#vehicle-request-limit',
        },
        { type: 'CONTACT_SUPPORT' },
      );
    case 'COMPATIBILITY':
      return errorReply(
        requestId,
        501,
        {
          type: 'COMPATIBILITY',
          code: 'VEHICLE_NOT_CAPABLE',
          description: 'The vehicle is incapable of performing your request.',
          docPath: 'compatibility-errors#vehicle-not-capable',
        },
        { type: null },
      );
    case 'UPSTREAM':
      return errorReply(
        requestId,
        502,
        {
          type: 'UPSTREAM',
          code: 'NO_RESPONSE',
          description: 'The OEM or vehicle failed to process the request.',
          docPath: 'upstream-errors#no-response',
        },
        { type: 'RETRY_LATER' },
      );
    default:
      return errorReply(
        requestId,
        500,
        {
          type: 'SERVER',
          code: 'INTERNAL',
          description: 'Smartcar ran into an unexpected issue.',
          docPath: 'server-errors#internal',
        },
        { type: 'RETRY_LATER' },
      );
  }
}

export interface FakeCommands {
  /** `POST …/security`: `{"action": "LOCK" | "UNLOCK"}`. */
  security(vehicle: FakeVehicle, request: RouteRequest): Promise<Reply>;
  /** `POST …/charge`: `{"action": "START" | "STOP"}`. */
  charge(vehicle: FakeVehicle, request: RouteRequest): Promise<Reply>;
  /** `POST …/charge/limit`: `{"limit": "0.8"}` (a string, as the SDK sends it). */
  chargeLimit(vehicle: FakeVehicle, request: RouteRequest): Promise<Reply>;
  /** `GET …/permissions`: the grant's scope. */
  permissions(grant: Grant, request: RouteRequest): Reply;
  failCommand(vehicleId: string, failure: CommandFailure): void;
  clearCommandFailures(vehicleId: string): void;
  vehicleState(vehicleId: string): FakeVehicleState;
  /** `POST|DELETE /fake/vehicles/{id}/command-failures`, for local mode (loopback only, no authentication). */
  readonly controlSurface: Surface;
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function parseCommandFailure(body: Record<string, unknown> | undefined): CommandFailure | string {
  if (!body || typeof body.error !== 'string' || !COMMAND_FAILURE_NAMES.includes(body.error)) {
    return `"error" must be one of ${COMMAND_FAILURE_NAMES.join(', ')}`;
  }
  const { delayMs, retryAfter, times } = body;
  if (delayMs !== undefined && (typeof delayMs !== 'number' || delayMs < 0 || delayMs > MAX_DELAY_MS)) {
    return `"delayMs" must be 0 to ${MAX_DELAY_MS}`;
  }
  if (retryAfter !== undefined && (typeof retryAfter !== 'number' || retryAfter < 0)) {
    return '"retryAfter" must be a number of seconds';
  }
  if (times !== undefined && (typeof times !== 'number' || !Number.isInteger(times) || times < 1)) {
    return '"times" must be a positive integer';
  }
  return {
    error: body.error,
    ...(delayMs !== undefined && { delayMs }),
    ...(retryAfter !== undefined && { retryAfter }),
    ...(times !== undefined && { times }),
  };
}

export function createFakeCommands(): FakeCommands {
  const states = new Map<string, FakeVehicleState>();
  const failures = new Map<string, { failure: CommandFailure; remaining: number }[]>();

  const current = (vehicleId: string): FakeVehicleState =>
    states.get(vehicleId) ?? { isLocked: true, isCharging: false, chargeLimit: 0.8 };

  /** The next queued failure of the vehicle (used up), or undefined. */
  function takeFailure(vehicleId: string): CommandFailure | undefined {
    const queue = failures.get(vehicleId);
    const next = queue?.[0];
    if (!queue || !next) return undefined;
    next.remaining -= 1;
    if (next.remaining <= 0) queue.shift();
    return next.failure;
  }

  /** Applies `change` unless a failure is queued; a TIMEOUT applies it after the delay (it did reach the car). */
  async function run(
    vehicle: FakeVehicle,
    request: RouteRequest,
    change: (before: FakeVehicleState) => FakeVehicleState,
  ): Promise<Reply> {
    const { ctx } = request;
    const failure = takeFailure(vehicle.id);
    if (failure && failure.error !== 'TIMEOUT') {
      ctx.injected = true;
      ctx.error = failure.error;
      return failureReply(ctx.requestId, failure);
    }
    if (failure) {
      ctx.injected = true;
      ctx.error = 'TIMEOUT';
      await new Promise((resolve) => setTimeout(resolve, failure.delayMs ?? DEFAULT_TIMEOUT_DELAY_MS));
    }
    states.set(vehicle.id, change(current(vehicle.id)));
    return json(200, SUCCESS, ctx.requestId);
  }

  function action(request: RouteRequest, allowed: readonly string[]): string | Reply {
    const body = parseJson(request.body);
    const value = body?.action;
    if (typeof value !== 'string' || !allowed.includes(value)) {
      request.ctx.error = 'VALIDATION';
      return validationError(request.ctx.requestId, `"action" must be one of ${allowed.join(', ')}.`);
    }
    return value;
  }

  const controlSurface: Surface = {
    routes: [
      {
        method: 'POST',
        path: '/fake/vehicles/:id/command-failures',
        route: 'control',
        run: ({ ctx, body, params }) => {
          const parsed = parseCommandFailure(parseJson(body));
          if (typeof parsed === 'string') return validationError(ctx.requestId, parsed);
          commands.failCommand(params.id ?? '', parsed);
          return json(
            200,
            { vehicleId: params.id, queued: failures.get(params.id ?? '')?.length ?? 0 },
            ctx.requestId,
          );
        },
      },
      {
        method: 'DELETE',
        path: '/fake/vehicles/:id/command-failures',
        route: 'control',
        run: ({ ctx, params }) => {
          commands.clearCommandFailures(params.id ?? '');
          return json(200, { vehicleId: params.id, queued: 0 }, ctx.requestId);
        },
      },
      {
        method: 'GET',
        path: '/fake/vehicles/:id/state',
        route: 'control',
        run: ({ ctx, params }) => json(200, commands.vehicleState(params.id ?? ''), ctx.requestId),
      },
    ],
  };

  const commands: FakeCommands = {
    security: (vehicle, request) => {
      const value = action(request, ['LOCK', 'UNLOCK']);
      if (typeof value !== 'string') return Promise.resolve(value);
      return run(vehicle, request, (before) => ({ ...before, isLocked: value === 'LOCK' }));
    },
    charge: (vehicle, request) => {
      const value = action(request, ['START', 'STOP']);
      if (typeof value !== 'string') return Promise.resolve(value);
      return run(vehicle, request, (before) => ({ ...before, isCharging: value === 'START' }));
    },
    chargeLimit: (vehicle, request) => {
      const limit = Number(parseJson(request.body)?.limit);
      if (!Number.isFinite(limit) || limit < 0.5 || limit > 1) {
        request.ctx.error = 'VALIDATION';
        return Promise.resolve(validationError(request.ctx.requestId, '"limit" must be between 0.5 and 1.'));
      }
      return run(vehicle, request, (before) => ({ ...before, chargeLimit: limit }));
    },
    permissions: (grant, { ctx }) =>
      json(
        200,
        { permissions: [...grant.scope], paging: { count: grant.scope.length, offset: 0 } },
        ctx.requestId,
      ),
    failCommand: (vehicleId, failure) => {
      const queue = failures.get(vehicleId) ?? [];
      queue.push({ failure, remaining: Math.max(1, failure.times ?? 1) });
      failures.set(vehicleId, queue);
    },
    clearCommandFailures: (vehicleId) => {
      failures.delete(vehicleId);
    },
    vehicleState: (vehicleId) => current(vehicleId),
    controlSurface,
  };
  return commands;
}
