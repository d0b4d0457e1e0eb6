import { APP_USER_ID_RULE, isValidAppUserId } from '../oauth/app-user.js';
import { checkScopes, MAX_SCOPES } from '../oauth/scopes.js';

/** The body of POST /connect: `{"userId": "<app user id>", "scopes"?: ["read_vehicle_info", …]}`. Pure. */

export const MAX_CONNECT_BODY_BYTES = 8 * 1024;
const ALLOWED_FIELDS = new Set(['userId', 'scopes']);
/** How many offending names a 400 lists (the rest are counted): keeps answers small. */
const MAX_NAMED = 10;
const MAX_NAME_LENGTH = 64;

export type ConnectRequest =
  | { readonly ok: true; readonly userId: string; readonly scopes?: string[] }
  | { readonly ok: false; readonly status: 400 | 413; readonly error: string; readonly message: string };

const reject = (error: string, message: string, status: 400 | 413 = 400): ConnectRequest => ({
  ok: false,
  status,
  error,
  message,
});

/** Lists caller-supplied names in an error message, bounded in count and length. */
function nameList(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMED).map((name) => JSON.stringify(name.slice(0, MAX_NAME_LENGTH)));
  const more = names.length > MAX_NAMED ? ` and ${names.length - MAX_NAMED} more` : '';
  return `${shown.join(', ')}${more}`;
}

export function parseConnectRequest(body: string | undefined, isBase64Encoded = false): ConnectRequest {
  const raw = body ?? '';
  const bytes = isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_CONNECT_BODY_BYTES) {
    return reject('payload_too_large', `body exceeds ${MAX_CONNECT_BODY_BYTES} bytes`, 413);
  }
  if (bytes.length === 0) return reject('invalid_body', 'body must be a JSON object with a userId');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return reject('invalid_json', 'body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return reject('invalid_body', 'body must be a JSON object with a userId');
  }
  const fields = parsed as Record<string, unknown>;
  const unknownFields = Object.keys(fields).filter((key) => !ALLOWED_FIELDS.has(key));
  if (unknownFields.length > 0) return reject('invalid_body', `unknown fields: ${nameList(unknownFields)}`);

  if (!isValidAppUserId(fields.userId)) return reject('invalid_user_id', APP_USER_ID_RULE);
  const userId = fields.userId;

  if (fields.scopes === undefined) return { ok: true, userId };
  const { scopes } = fields;
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    scopes.length > MAX_SCOPES ||
    !scopes.every((scope): scope is string => typeof scope === 'string')
  ) {
    return reject(
      'invalid_scopes',
      `scopes must be a non-empty array of at most ${MAX_SCOPES} permission names`,
    );
  }
  const checked = checkScopes(scopes);
  if (!checked.ok) return reject('unknown_scopes', `unknown permissions: ${nameList(checked.unknown)}`);
  return { ok: true, userId, scopes: checked.scopes };
}
