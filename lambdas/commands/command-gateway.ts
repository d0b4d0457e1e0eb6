import smartcar, { type ActionResponse } from 'smartcar';
import { withTimeout } from '../runtime/deadline.js';
import type { CommandRequest } from './command-request.js';
import { classifySendFailure, type FailedSend } from './command-outcome.js';

/**
 * Vehicle commands and the permissions read through the `smartcar` SDK (`Vehicle#lock`, `unlock`,
 * `startCharge`, `stopCharge`, `setChargeLimit`, `permissions`; the SDK reads SMARTCAR_API_ORIGIN when a
 * Vehicle is constructed, so tests and local mode point it at the fake through the environment alone).
 *
 * THE NEVER-RETRY RULE: a command is sent at most once unless the previous attempt provably never left this
 * host (connection refused, DNS failure). A timeout, a reset connection or a 5xx may mean the car already
 * unlocked; a second UNLOCK is a safety problem, so those are reported as UNKNOWN and left to a human.
 *
 * The access token is an argument only: nothing here logs, and a failure carries Smartcar's fields, never the
 * request (whose Authorization header holds the token).
 */

export type SendResult =
  | { readonly ok: true; readonly smartcarRequestId?: string }
  | ({ readonly ok: false; readonly attempts: number } & FailedSend);

export interface CommandGateway {
  /** Sends the command once (see the never-retry rule), within `timeoutMs`. Never throws. */
  send(
    vehicleId: string,
    accessToken: string,
    request: CommandRequest,
    timeoutMs: number,
  ): Promise<SendResult>;
  /** The permissions the owner granted for the vehicle (`GET /vehicles/{id}/permissions`, every page). */
  permissions(vehicleId: string, accessToken: string, timeoutMs: number): Promise<string[]>;
}

/** Attempts while the request provably was not sent (a refused connection); never more after it may have been. */
export const MAX_UNSENT_ATTEMPTS = 3;
const UNSENT_BACKOFF_MS = 200;
const PERMISSIONS_PAGE = 50;
const MAX_PERMISSION_PAGES = 10;

function call(
  vehicle: InstanceType<typeof smartcar.Vehicle>,
  request: CommandRequest,
): Promise<ActionResponse> {
  switch (request.command) {
    case 'LOCK':
      return vehicle.lock();
    case 'UNLOCK':
      return vehicle.unlock();
    case 'START_CHARGE':
      return vehicle.startCharge();
    case 'STOP_CHARGE':
      return vehicle.stopCharge();
    case 'SET_CHARGE_LIMIT':
      // Validated before: SET_CHARGE_LIMIT always has a limit.
      return vehicle.setChargeLimit(request.limit ?? Number.NaN);
  }
}

export function smartcarCommandGateway(
  options: { readonly sleep?: (ms: number) => Promise<void>; readonly now?: () => number } = {},
): CommandGateway {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;

  return {
    async send(vehicleId, accessToken, request, timeoutMs) {
      const endsAt = now() + timeoutMs;
      for (let attempt = 1; ; attempt += 1) {
        try {
          const vehicle = new smartcar.Vehicle(vehicleId, accessToken);
          const response = await withTimeout(call(vehicle, request), endsAt - now(), request.command);
          const requestId = response.meta?.requestId;
          return { ok: true, ...(typeof requestId === 'string' && { smartcarRequestId: requestId }) };
        } catch (error) {
          const failure = classifySendFailure(error);
          const retry =
            failure.notSent && attempt < MAX_UNSENT_ATTEMPTS && endsAt - now() > UNSENT_BACKOFF_MS * attempt;
          if (!retry) return { ok: false, attempts: attempt, ...failure };
          await sleep(UNSENT_BACKOFF_MS * attempt);
        }
      }
    },

    async permissions(vehicleId, accessToken, timeoutMs) {
      const endsAt = now() + timeoutMs;
      const vehicle = new smartcar.Vehicle(vehicleId, accessToken);
      const granted = new Set<string>();
      let offset = 0;
      for (let page = 0; page < MAX_PERMISSION_PAGES; page += 1) {
        const result = await withTimeout(
          vehicle.permissions({ limit: PERMISSIONS_PAGE, offset }),
          endsAt - now(),
          'permissions',
        );
        const list = Array.isArray(result.permissions) ? result.permissions : [];
        for (const permission of list) if (typeof permission === 'string') granted.add(permission);
        offset += list.length;
        const total = typeof result.paging?.count === 'number' ? result.paging.count : offset;
        if (list.length === 0 || offset >= total) break;
      }
      return [...granted].sort();
    },
  };
}
