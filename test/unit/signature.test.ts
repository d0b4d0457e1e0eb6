import { describe, expect, it } from 'vitest';
import { hmacHex, verifySignature } from '../../lambdas/webhook-receiver/signature.js';

// Vectors from the official Smartcar SDK's own tests.
const AMT = 'amt';
const CHALLENGE_HMAC = '9baf5a7464bd86740ad5a06e439dcf535a075022ed2c92d74efacf646d79328e';
const PIZZA_HMAC = '4c05a8da471f05156ad717baa4017acd13a3a809850b9ca7d3301dcaaa854f70';

describe('hmacHex', () => {
  it('matches the SDK vector for a VERIFY challenge', () => {
    expect(hmacHex(AMT, 'challenge')).toBe(CHALLENGE_HMAC);
  });

  it('matches the SDK vector for a JSON body', () => {
    expect(hmacHex(AMT, Buffer.from('{"pizza":"pasta"}'))).toBe(PIZZA_HMAC);
  });
});

describe('verifySignature', () => {
  const body = Buffer.from('{"pizza":"pasta"}');

  it('accepts the SDK vector', () => {
    expect(verifySignature(body, PIZZA_HMAC, [AMT])).toBe(true);
  });

  it('accepts upper-case hex and surrounding whitespace in the header', () => {
    expect(verifySignature(body, ` ${PIZZA_HMAC.toUpperCase()} `, [AMT])).toBe(true);
  });

  it('rejects a signature made with another key', () => {
    expect(verifySignature(body, hmacHex('other', body), [AMT])).toBe(false);
  });

  it('rejects a signature of a different body', () => {
    expect(verifySignature(Buffer.from('{"pizza":"pizza"}'), PIZZA_HMAC, [AMT])).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['too short', PIZZA_HMAC.slice(0, 63)],
    ['too long', `${PIZZA_HMAC}00`],
    ['not hex', 'z'.repeat(64)],
    ['base64 of the digest', Buffer.from(PIZZA_HMAC, 'hex').toString('base64')],
  ])('rejects a malformed signature (%s)', (_name, signature) => {
    expect(verifySignature(body, signature, [AMT])).toBe(false);
  });

  it('verifies the raw bytes: whitespace and \\u00e9 escapes as sent', () => {
    const raw = Buffer.from('{\n  "eventType" : "VEHICLE_STATE",\n  "name": "Ren\\u00e9e"  \n}\n');
    const signature = hmacHex(AMT, raw);
    expect(verifySignature(raw, signature, [AMT])).toBe(true);
    // The same JSON re-serialized is different bytes: it must not verify with the original signature.
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    expect(verifySignature(reserialized, signature, [AMT])).toBe(false);
  });

  it('verifies bodies with raw multi-byte UTF-8', () => {
    const raw = Buffer.from('{"name":"Renée 🚗"}', 'utf8');
    expect(verifySignature(raw, hmacHex(AMT, raw), [AMT])).toBe(true);
  });

  it('accepts the previous management token during a rotation', () => {
    const signedWithOld = hmacHex('old-amt', body);
    expect(verifySignature(body, signedWithOld, ['new-amt', 'old-amt'])).toBe(true);
    expect(verifySignature(body, signedWithOld, ['new-amt'])).toBe(false);
  });
});
