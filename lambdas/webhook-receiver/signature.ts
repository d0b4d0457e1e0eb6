import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Smartcar signs with HMAC-SHA256 keyed by the Application Management Token, lowercase hex.
 * Written by hand on node:crypto because the `smartcar` SDK's `verifyPayload` re-serializes the parsed
 * body and compares strings with `===`: that breaks on any body whose bytes differ from JSON.stringify's
 * output (whitespace, `\u00e9` escapes) and is not constant-time.
 */
export function hmacHex(key: string, data: Buffer | string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/i;

/**
 * True when `signature` is HMAC-SHA256(key, rawBody) for one of `keys` (the current AMT and, during a
 * rotation, the previous one). Compares bytes in constant time; every key is tried so the timing does
 * not reveal which one matched.
 */
export function verifySignature(
  rawBody: Buffer | string,
  signature: string,
  keys: readonly string[],
): boolean {
  const candidate = signature.trim();
  if (!SIGNATURE_PATTERN.test(candidate)) return false;
  const given = Buffer.from(candidate, 'hex');
  let matched = false;
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(rawBody).digest();
    if (timingSafeEqual(expected, given)) matched = true;
  }
  return matched;
}
