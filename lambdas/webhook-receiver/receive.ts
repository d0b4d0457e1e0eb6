import { asObject, parseObject, type JsonObject } from '../runtime/json.js';
import { hmacHex, verifySignature } from './signature.js';

/** What the receiver decided for one request; the handler turns it into an HTTP answer. */
export type ReceiveOutcome =
  | { readonly kind: 'verify'; readonly answer: string }
  | { readonly kind: 'enqueue'; readonly message: QueuedWebhook }
  | {
      readonly kind: 'reject';
      readonly status: 400 | 401 | 413;
      readonly error: string;
      readonly reason: string;
    };

export interface QueuedWebhook {
  /** The body exactly as Smartcar sent it (already checked to be UTF-8). */
  readonly body: string;
  readonly attributes: WebhookAttributes;
}

export interface WebhookAttributes {
  readonly eventId?: string;
  /** `meta.deliveryId`: new on every delivery attempt (Smartcar's retries keep the eventId). */
  readonly deliveryId?: string;
  readonly eventType?: string;
  readonly vehicleId?: string;
}

export interface ReceiveInput {
  /**
   * The body as received: the bytes of a base64-encoded body, or the text API Gateway already decoded (hashed
   * as its UTF-8 encoding, which is what Smartcar signed; not copying it into a Buffer first saves a pass over it).
   */
  readonly rawBody: Buffer | string;
  readonly signature: string | undefined;
}

export interface SigningKeys {
  /** The current Application Management Token: signs VERIFY answers. */
  readonly current: string;
  /** The AMT before a rotation, still accepted for incoming signatures. */
  readonly previous?: string;
}

/** A VERIFY challenge must be a plain token: no JSON punctuation, whitespace or control characters. */
const PLAIN_TOKEN = /^[^\s{}"\p{Cc}]{1,512}$/u;

const reject = (status: 400 | 401 | 413, error: string, reason: string): ReceiveOutcome => ({
  kind: 'reject',
  status,
  error,
  reason,
});

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The challenge of a VERIFY event, in either envelope: v4 `{"eventType":"VERIFY","data":{"challenge"}}`
 * or v2 `{"eventName":"verify","payload":{"challenge"}}`. `undefined` when the body is not a VERIFY.
 */
function verifyChallenge(body: JsonObject): { challenge: unknown } | undefined {
  if (body.eventType === 'VERIFY') return { challenge: asObject(body.data)?.challenge };
  if (body.eventName === 'verify') return { challenge: asObject(body.payload)?.challenge };
  return undefined;
}

/** Attributes for routing/filtering without parsing the body again; only what the body really carries. */
export function webhookAttributes(body: JsonObject): WebhookAttributes {
  const data = asObject(body.data);
  const payload = asObject(body.payload);
  return {
    eventId: nonEmptyString(body.eventId) ?? nonEmptyString(payload?.eventId),
    deliveryId: nonEmptyString(asObject(body.meta)?.deliveryId),
    eventType: nonEmptyString(body.eventType) ?? nonEmptyString(body.eventName),
    vehicleId:
      nonEmptyString(asObject(data?.vehicle)?.id) ??
      nonEmptyString(body.vehicleId) ??
      nonEmptyString(payload?.vehicleId),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(body: Buffer | string): string | undefined {
  if (typeof body === 'string') return body;
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}

/**
 * Decides what to do with one webhook request. Pure: no I/O, so every path is unit-tested.
 * The body size is checked by the caller before this runs (413 before any HMAC work).
 *
 * A signed request is authenticated before its body is parsed: nobody can make us parse JSON without the key.
 * Only an unsigned request is parsed first, because Smartcar's VERIFY may come unsigned; it is answered only if
 * it is a VERIFY with a plain-token challenge (never one that could be a JSON event body, so the answer is no
 * signing oracle), and rejected otherwise.
 */
export function receiveWebhook(input: ReceiveInput, keys: SigningKeys): ReceiveOutcome {
  const allKeys = keys.previous ? [keys.current, keys.previous] : [keys.current];
  const signed = input.signature !== undefined && input.signature.trim() !== '';
  if (signed && !verifySignature(input.rawBody, input.signature ?? '', allKeys)) {
    return reject(401, 'invalid_signature', 'SC-Signature does not match the body');
  }

  const text = decodeUtf8(input.rawBody);
  const body = text === undefined ? undefined : parseObject(text);
  const verify = body ? verifyChallenge(body) : undefined;
  if (verify) {
    if (input.signature !== undefined && !signed) {
      // A blank SC-Signature header is a signature that does not match.
      return reject(401, 'invalid_signature', 'SC-Signature does not match the body');
    }
    const { challenge } = verify;
    if (typeof challenge !== 'string' || !PLAIN_TOKEN.test(challenge)) {
      return reject(400, 'invalid_challenge', 'challenge must be a plain token of at most 512 characters');
    }
    return { kind: 'verify', answer: hmacHex(keys.current, challenge) };
  }

  if (!signed) return reject(401, 'missing_signature', 'SC-Signature header is required');
  if (text === undefined || body === undefined) {
    return reject(400, 'invalid_body', 'body must be a UTF-8 JSON object');
  }
  return { kind: 'enqueue', message: { body: text, attributes: webhookAttributes(body) } };
}
