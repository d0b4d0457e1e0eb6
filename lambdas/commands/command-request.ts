import { createHash } from 'node:crypto';

/**
 * The request of `POST /vehicles/{vehicleId}/commands` (docs/design.md, "Vehicle commands"): the body and the
 * optional `Idempotency-Key`, validated before anything is read or stored.
 */

export const COMMANDS = ['LOCK', 'UNLOCK', 'START_CHARGE', 'STOP_CHARGE', 'SET_CHARGE_LIMIT'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The Smartcar permission each command needs on the grant (Smartcar's "Lock & Unlock" and "Start & Stop Charge"). */
export const REQUIRED_PERMISSION: Readonly<Record<CommandName, string>> = {
  LOCK: 'control_security',
  UNLOCK: 'control_security',
  START_CHARGE: 'control_charge',
  STOP_CHARGE: 'control_charge',
  SET_CHARGE_LIMIT: 'control_charge',
};

/** Smartcar takes the charge limit as a fraction; 0.5–1.0 is what the contract allows. */
export const MIN_CHARGE_LIMIT = 0.5;
export const MAX_CHARGE_LIMIT = 1;
const MAX_REQUESTED_BY = 128;
const MAX_BODY_CHARS = 4096;
/** ≤ 64 characters from `[A-Za-z0-9_-]`: safe in a DynamoDB sort key and in a log line. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{1,64}$/;
/** Printable ASCII and any non-control Unicode: no line breaks or control characters reach the audit. */
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u;

export interface CommandRequest {
  readonly command: CommandName;
  /** SET_CHARGE_LIMIT only. */
  readonly limit?: number;
  readonly requestedBy?: string;
}

export type ParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

function isCommand(value: unknown): value is CommandName {
  return typeof value === 'string' && (COMMANDS as readonly string[]).includes(value);
}

/** The JSON body; anything unexpected (unknown fields included) is refused, so nothing ambiguous is sent. */
export function parseCommandBody(
  body: string | undefined,
  isBase64Encoded = false,
): ParseResult<CommandRequest> {
  if (body === undefined || body === '') return fail('the body must be a JSON object with "command"');
  const text = isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  if (text.length > MAX_BODY_CHARS) return fail('the body is too large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('the body must be a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !['command', 'limit', 'requestedBy'].includes(key));
  if (unknown.length > 0) return fail(`unknown field "${unknown[0]?.slice(0, 32) ?? ''}"`);
  if (!isCommand(record.command)) return fail(`"command" must be one of ${COMMANDS.join(', ')}`);
  const command = record.command;

  let limit: number | undefined;
  if (command === 'SET_CHARGE_LIMIT') {
    if (
      typeof record.limit !== 'number' ||
      !Number.isFinite(record.limit) ||
      record.limit < MIN_CHARGE_LIMIT ||
      record.limit > MAX_CHARGE_LIMIT
    ) {
      return fail(`"limit" must be a number from ${MIN_CHARGE_LIMIT} to ${MAX_CHARGE_LIMIT} (a fraction)`);
    }
    limit = record.limit;
  } else if (record.limit !== undefined) {
    return fail('"limit" is only allowed with SET_CHARGE_LIMIT');
  }

  let requestedBy: string | undefined;
  if (record.requestedBy !== undefined) {
    if (
      typeof record.requestedBy !== 'string' ||
      record.requestedBy.length === 0 ||
      [...record.requestedBy].length > MAX_REQUESTED_BY ||
      !PRINTABLE.test(record.requestedBy)
    ) {
      return fail(`"requestedBy" must be 1 to ${MAX_REQUESTED_BY} printable characters`);
    }
    requestedBy = record.requestedBy;
  }
  return {
    ok: true,
    value: {
      command,
      ...(limit !== undefined && { limit }),
      ...(requestedBy !== undefined && { requestedBy }),
    },
  };
}

/** undefined: no key given; null: a key that breaks the rules (→ 400 invalid_idempotency_key). */
export function parseIdempotencyKey(value: string | undefined): string | undefined | null {
  if (value === undefined) return undefined;
  return IDEMPOTENCY_KEY.test(value) ? value : null;
}

/**
 * What "the same body" means for an idempotency key: the parsed request in a fixed field order, hashed. Key
 * order and whitespace in the JSON do not matter; any difference in command, limit or requestedBy does.
 */
export function requestFingerprint(request: CommandRequest): string {
  const canonical = JSON.stringify([request.command, request.limit ?? null, request.requestedBy ?? null]);
  return createHash('sha256').update(canonical).digest('base64url');
}
