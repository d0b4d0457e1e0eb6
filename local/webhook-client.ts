import { createHmac, randomUUID } from 'node:crypto';

/**
 * What `npm run send-webhook` does, without the CLI around it: prepare a body the way Smartcar would
 * deliver it, sign the exact bytes, POST them, and check a VERIFY answer.
 */

export const DEFAULT_LOCAL_MANAGEMENT_TOKEN = 'local-management-token';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The challenge of a VERIFY body (v4 `data.challenge` or v2 `payload.challenge`), else undefined. */
export function verifyChallengeOf(body: unknown): string | undefined {
  if (!isObject(body)) return undefined;
  if (body.eventType === 'VERIFY' && isObject(body.data) && typeof body.data.challenge === 'string') {
    return body.data.challenge;
  }
  if (body.eventName === 'verify' && isObject(body.payload) && typeof body.payload.challenge === 'string') {
    return body.payload.challenge;
  }
  return undefined;
}

export interface PreparedWebhook {
  /** The exact bytes to send (and to sign). */
  readonly body: Buffer;
  readonly eventId: string | undefined;
  /** Set for a VERIFY body: the challenge the receiver must answer with HMAC(AMT, challenge). */
  readonly challenge: string | undefined;
}

/**
 * Gives the event a fresh id, so sending the same capture twice is two events, not a duplicate the
 * processor drops: v4 top-level `eventId`, v2 `payload.eventId`. With `keepId`, or for a VERIFY, the file's
 * bytes are sent unchanged (byte-for-byte, whitespace included).
 */
export function prepareWebhook(fileBytes: Buffer, options: { keepId: boolean }): PreparedWebhook {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileBytes.toString('utf8'));
  } catch (error) {
    throw new Error(`the file is not JSON: ${(error as Error).message}`);
  }
  const challenge = verifyChallengeOf(parsed);
  const currentId = (body: unknown): string | undefined => {
    if (!isObject(body)) return undefined;
    if (typeof body.eventId === 'string') return body.eventId;
    return isObject(body.payload) && typeof body.payload.eventId === 'string'
      ? body.payload.eventId
      : undefined;
  };
  if (challenge !== undefined || options.keepId || !isObject(parsed)) {
    return { body: fileBytes, eventId: currentId(parsed), challenge };
  }
  const eventId = randomUUID();
  const isV2 = !('eventType' in parsed) && 'eventName' in parsed && isObject(parsed.payload);
  if (isV2 && isObject(parsed.payload)) parsed.payload.eventId = eventId;
  else parsed.eventId = eventId;
  return { body: Buffer.from(JSON.stringify(parsed), 'utf8'), eventId, challenge };
}

/** Smartcar's `SC-Signature`: HMAC-SHA256 of the exact body, keyed by the AMT, lowercase hex. */
export function signature(managementToken: string, body: Buffer | string): string {
  return createHmac('sha256', managementToken).update(body).digest('hex');
}

export interface WebhookResult {
  readonly status: number;
  readonly ok: boolean;
  readonly responseBody: string;
  /** For a VERIFY: whether the answer was HMAC(AMT, challenge). */
  readonly challengeVerified?: boolean;
}

/** The challenge answer in a receiver response: `{"challenge":"<hex>"}` (or a bare string). */
function answeredChallenge(responseBody: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(responseBody);
    if (typeof parsed === 'string') return parsed;
    if (isObject(parsed) && typeof parsed.challenge === 'string') return parsed.challenge;
  } catch {
    return responseBody.trim() || undefined;
  }
  return undefined;
}

export async function sendWebhook(
  url: string,
  prepared: PreparedWebhook,
  managementToken: string,
  fetchImpl: typeof fetch = fetch,
): Promise<WebhookResult> {
  const response = await fetchImpl(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'sc-signature': signature(managementToken, prepared.body),
      'user-agent': 'smartcar-local-send-webhook',
    },
    body: prepared.body,
  });
  const responseBody = await response.text();
  const result: WebhookResult = { status: response.status, ok: response.ok, responseBody };
  if (prepared.challenge === undefined) return result;
  const expected = signature(managementToken, prepared.challenge);
  return { ...result, challengeVerified: answeredChallenge(responseBody) === expected };
}
