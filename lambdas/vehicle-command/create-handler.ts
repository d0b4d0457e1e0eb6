import { randomUUID } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { AuditRecord, CommandAuditStore, KeyClaim } from '../commands/command-audit.js';
import type { CommandGateway } from '../commands/command-gateway.js';
import type { SmartcarCallDeps } from '../runtime/deps.js';
import { effectiveStatus, UNKNOWN_OUTCOME_ANSWER, type StoredAnswer } from '../commands/command-outcome.js';
import {
  parseCommandBody,
  parseIdempotencyKey,
  requestFingerprint,
  REQUIRED_PERMISSION,
  type CommandRequest,
} from '../commands/command-request.js';
import { header, json, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';
import { describeSmartcarError } from '../smartcar/errors.js';
import {
  AccessTokenUnavailableError,
  GrantNeedsReauthError,
  VehicleNotConnectedError,
  type AccessTokenProvider,
} from '../tokens/access-token.js';
import { GRANT_NEEDS_REAUTH } from '../tokens/grant.js';
import type { TokenStore } from '../tokens/token-store.js';
import { isValidVehicleId } from '../vehicles/vehicle-keys.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import { DISCONNECTED, NEEDS_REAUTH } from '../vehicles/vehicle-status.js';

export interface CommandDeps extends SmartcarCallDeps {
  readonly links: Pick<VehicleLinkStore, 'getProfile'>;
  readonly tokens: Pick<TokenStore, 'getGrant'>;
  readonly accessTokens: AccessTokenProvider;
  readonly gateway: CommandGateway;
  readonly audit: CommandAuditStore;
  /** SMARTCAR_COMMAND_TIMEOUT_MS: limit of the command call (further cut to the invocation's end). */
  readonly commandTimeoutMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly newId?: () => string;
}

/** Kept back from the Smartcar call for the audit's second write and the answer. */
export const ANSWER_RESERVE_MS = 3_000;
/** getAccessToken gets at most this much (a refresh), so the command itself keeps most of the invocation. */
const TOKEN_BUDGET_MS = 8_000;
/** Used when there is no Lambda context (tests calling the factory directly). */
const DEFAULT_REMAINING_MS = 28_000;
const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
const WAIT_BASE_MS = 100;
const WAIT_CAP_MS = 1_000;

/**
 * A vehicle whose connect waits for its confirmation (docs/design.md, "Confirmed connect") is known only to its
 * pending grant: no profile names it (or only one a webhook created, without a grant), and nothing is keyed by
 * the vehicle id of a pending grant (`pendingVehicleIds` is in no index; the pending partition of the due index
 * projects grant ids only). Telling that case apart would take a new index or reading every pending grant on each
 * refusal, so the refusal stays 404 / 409 and its message names the pending connect as one reason.
 */
const notLinkedMessage = (vehicleId: string): string =>
  `vehicle ${vehicleId} is not linked (or its connect is not yet confirmed)`;

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function answer(
  stored: StoredAnswer,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  const response = json(stored.statusCode, stored.body);
  return { ...response, headers: { ...response.headers, ...stored.headers, ...extraHeaders } };
}

/** One audit item as `GET …/commands` shows it: never a token, never the stored answer. */
function view(record: AuditRecord, now: number): Record<string, unknown> {
  return {
    commandId: record.commandId,
    command: record.command,
    limit: record.limit ?? null,
    requestedBy: record.requestedBy ?? null,
    requestedAt: iso(record.requestedAt),
    status: effectiveStatus(record.status, record.pendingUntil, now),
    error: record.error ?? null,
    smartcarRequestId: record.smartcarRequestId ?? null,
    confirmedAt: iso(record.confirmedAt),
  };
}

function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** A nextToken is accepted only as a command key of the same vehicle (it is client input). */
function decodeToken(token: string, vehicleId: string): Record<string, unknown> | undefined {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    const keys = Object.keys(key).sort().join(',');
    if (keys !== 'sk,vehicleId' || key.vehicleId !== vehicleId) return undefined;
    return typeof key.sk === 'string' && key.sk.startsWith('CMD#') ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * POST /vehicles/{vehicleId}/commands and GET /vehicles/{vehicleId}/commands (IAM), docs/design.md "Vehicle
 * commands". POST: validate → refuse without calling Smartcar what cannot work (unknown, not connected,
 * permission missing) → PENDING audit item (with the Idempotency-Key's claim, atomically) → one Smartcar call →
 * the outcome. Never a retry once the request may have reached Smartcar; never a token in a response or a log.
 */
export function createCommandHandler(deps: CommandDeps) {
  const { logger, metrics, audit } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const newId = deps.newId ?? randomUUID;

  function refuse(status: number, error: string, message: string, fields: Record<string, unknown> = {}) {
    countFailure(metrics, 'CommandRefused', error);
    logger.info('Command refused', { status, reason: error, ...fields });
    return problem(status, error, message);
  }

  /** The first request's outcome for a repeated key: waits while it is still being sent, never calls again. */
  async function replay(
    vehicleId: string,
    claim: KeyClaim,
    fingerprint: string,
    waitUntil: number,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    if (claim.fingerprint !== fingerprint) {
      return refuse(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different body', {
        vehicleId,
      });
    }
    metrics.addMetric('CommandReplayed', MetricUnit.Count, 1);
    for (let round = 0; ; round += 1) {
      const record = await audit.get(vehicleId, claim.commandSk);
      const status = record ? effectiveStatus(record.status, record.pendingUntil, now()) : 'UNKNOWN';
      if (record && status !== 'PENDING') {
        logger.info('Idempotent replay', { vehicleId, commandId: record.commandId, status });
        return answer(record.answer ?? UNKNOWN_OUTCOME_ANSWER, { 'idempotent-replayed': 'true' });
      }
      if (!record) return answer(UNKNOWN_OUTCOME_ANSWER, { 'idempotent-replayed': 'true' });
      const delay = Math.min(WAIT_CAP_MS, WAIT_BASE_MS * 2 ** round);
      if (now() + delay > waitUntil) {
        // Only when this invocation ends before the first one can (a shorter timeout): still no second call.
        return refuse(503, 'command_in_progress', 'the first request with this key is still running; retry');
      }
      await sleep(delay);
    }
  }

  async function grantedPermissions(
    vehicleId: string,
    stored: readonly string[] | undefined,
    accessToken: string,
  ): Promise<readonly string[] | undefined> {
    if (stored !== undefined) return stored;
    // A grant stored before permissions were read at connect time: ask Smartcar (a read, no side effect).
    try {
      return await deps.gateway.permissions(vehicleId, accessToken, deps.smartcarTimeoutMs);
    } catch (error) {
      logger.warn('Could not read the granted permissions', {
        vehicleId,
        smartcarError: describeSmartcarError(error),
      });
      return undefined;
    }
  }

  async function post(event: APIGatewayProxyEventV2, vehicleId: string, context: Context) {
    const startedAt = now();
    const remaining =
      typeof context?.getRemainingTimeInMillis === 'function'
        ? context.getRemainingTimeInMillis()
        : DEFAULT_REMAINING_MS;
    const invocationEnd = startedAt + remaining;
    const sendBy = invocationEnd - ANSWER_RESERVE_MS;

    const key = parseIdempotencyKey(header(event.headers, 'idempotency-key'));
    if (key === null) {
      return refuse(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 64 of A-Z a-z 0-9 _ -');
    }
    const parsed = parseCommandBody(event.body, event.isBase64Encoded);
    if (!parsed.ok) return refuse(400, 'invalid_command', parsed.message, { vehicleId });
    const request: CommandRequest = parsed.value;
    const fingerprint = requestFingerprint(request);
    const fields = { vehicleId, command: request.command, idempotencyKey: key };

    const profile = await deps.links.getProfile(vehicleId);
    if (!profile) return refuse(404, 'vehicle_not_found', notLinkedMessage(vehicleId), fields);

    if (key !== undefined) {
      const claim = await audit.findKey(vehicleId, key, startedAt);
      if (claim) return replay(vehicleId, claim, fingerprint, sendBy);
    }

    const notConnected = () =>
      refuse(
        409,
        'vehicle_not_connected',
        'the vehicle is not connected; its owner must connect it again',
        fields,
      );
    // Never linked (a profile from webhooks only) or disconnected: a new connect may be waiting for its confirm.
    if (profile.grantId === undefined || profile.status === DISCONNECTED) {
      return refuse(
        409,
        'vehicle_not_connected',
        'the vehicle is not connected (or its connect is not yet confirmed); its owner must connect it and ' +
          'the app confirm that connect',
        fields,
      );
    }
    if (profile.status === NEEDS_REAUTH) return notConnected();
    const grant = await deps.tokens.getGrant(profile.grantId, { consistent: false });
    if (!grant || !grant.vehicleIds.includes(vehicleId) || grant.status === GRANT_NEEDS_REAUTH) {
      return notConnected();
    }
    const needed = REQUIRED_PERMISSION[request.command];
    if (grant.permissions !== undefined && !grant.permissions.includes(needed)) {
      return refuse(403, 'permission_missing', `the owner did not grant ${needed}`, fields);
    }

    let accessToken: string;
    try {
      ({ accessToken } = await deps.accessTokens.getAccessToken(vehicleId, {
        endsAt: Math.min(sendBy, now() + TOKEN_BUDGET_MS),
      }));
    } catch (error) {
      if (error instanceof VehicleNotConnectedError || error instanceof GrantNeedsReauthError) {
        return notConnected();
      }
      if (error instanceof AccessTokenUnavailableError) {
        logger.warn('No access token for the command', { ...fields, reason: error.reason });
        return refuse(502, 'smartcar_unavailable', 'could not get a valid access token; retry later', fields);
      }
      throw error;
    }
    const permissions = await grantedPermissions(vehicleId, grant.permissions, accessToken);
    if (grant.permissions === undefined && permissions !== undefined && !permissions.includes(needed)) {
      return refuse(403, 'permission_missing', `the owner did not grant ${needed}`, fields);
    }

    const commandId = newId();
    const requestedAt = now();
    const begun = await audit.begin({
      vehicleId,
      commandId,
      command: request.command,
      ...(request.limit !== undefined && { limit: request.limit }),
      ...(request.requestedBy !== undefined && { requestedBy: request.requestedBy }),
      requestedAt,
      // After the invocation's end nobody can finish this item: readers then show it as UNKNOWN.
      pendingUntil: invocationEnd,
      ...(key !== undefined && { idempotency: { key, fingerprint } }),
    });
    // A concurrent request with the same key won the claim: answer its outcome.
    if (!begun.started) return replay(vehicleId, begun.claim, fingerprint, sendBy);

    const sent = await deps.gateway.send(
      vehicleId,
      accessToken,
      request,
      Math.min(deps.commandTimeoutMs, sendBy - now()),
    );
    const finishedAt = now();
    let stored: StoredAnswer;
    if (sent.ok) {
      stored = {
        statusCode: 200,
        body: {
          commandId,
          vehicleId,
          command: request.command,
          status: 'SENT',
          requestedAt: iso(requestedAt),
          ...(sent.smartcarRequestId !== undefined && { smartcarRequestId: sent.smartcarRequestId }),
        },
      };
      metrics.addMetric('CommandSent', MetricUnit.Count, 1);
      logger.info('Command sent', { ...fields, commandId, smartcarRequestId: sent.smartcarRequestId });
    } else {
      stored = { ...sent.answer, body: { ...sent.answer.body, commandId } };
      countFailure(
        metrics,
        sent.status === 'UNKNOWN' ? 'CommandOutcomeUnknown' : 'CommandFailed',
        String(stored.body.error),
      );
      logger.warn('Command did not succeed', {
        ...fields,
        commandId,
        status: sent.status,
        attempts: sent.attempts,
        smartcarError: sent.error,
        smartcarRequestId: sent.smartcarRequestId,
      });
    }
    try {
      await audit.finish(vehicleId, begun.record.sk, {
        status: sent.ok ? 'SENT' : sent.status,
        ...(!sent.ok && { error: sent.error }),
        ...(sent.smartcarRequestId !== undefined && { smartcarRequestId: sent.smartcarRequestId }),
        answer: stored,
        finishedAt,
      });
    } catch (error) {
      // The PENDING item stays and reads as UNKNOWN after pendingUntil; the caller still learns what happened.
      metrics.addMetric('CommandAuditNotFinished', MetricUnit.Count, 1);
      logger.error('Could not record the command outcome', { ...fields, commandId, error: error as Error });
    }
    return answer(stored);
  }

  async function list(event: APIGatewayProxyEventV2, vehicleId: string) {
    const query = event.queryStringParameters ?? {};
    const limitText = query.limit;
    const limit = limitText === undefined ? DEFAULT_PAGE : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      return refuse(400, 'invalid_limit', `limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    let startKey: Record<string, unknown> | undefined;
    if (query.nextToken !== undefined) {
      startKey = decodeToken(query.nextToken, vehicleId);
      if (!startKey) return refuse(400, 'invalid_next_token', 'nextToken is not one this API gave out');
    }
    const page = await audit.list(vehicleId, limit, startKey);
    if (page.records.length === 0 && startKey === undefined && !(await deps.links.getProfile(vehicleId))) {
      return refuse(404, 'vehicle_not_found', notLinkedMessage(vehicleId), { vehicleId });
    }
    const at = now();
    return json(200, {
      commands: page.records.map((record) => view(record, at)),
      nextToken: page.nextKey
        ? encodeToken({ vehicleId: page.nextKey.vehicleId, sk: page.nextKey.sk })
        : null,
    });
  }

  async function handleRequest(
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const vehicleId = event.pathParameters?.vehicleId;
    if (vehicleId === undefined || !isValidVehicleId(vehicleId)) {
      return refuse(400, 'invalid_vehicle_id', 'vehicleId must be a Smartcar vehicle id');
    }
    try {
      return event.requestContext?.http?.method === 'GET'
        ? await list(event, vehicleId)
        : await post(event, vehicleId, context);
    } catch (error) {
      // Our storage failed (DynamoDB, KMS): nothing reached Smartcar unless an audit item says so.
      logger.error('Command request failed', { vehicleId, error: error as Error });
      return refuse(503, 'unavailable', 'could not process the command, retry later', { vehicleId });
    }
  }

  // logEvent: false: the event's headers are the caller's SigV4 credentials' signature.
  return middy(handleRequest)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(logMetrics(metrics));
}
