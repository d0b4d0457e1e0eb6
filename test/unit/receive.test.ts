import { describe, expect, it, vi } from 'vitest';
import { hmacHex } from '../../lambdas/webhook-receiver/signature.js';
import { receiveWebhook, type SigningKeys } from '../../lambdas/webhook-receiver/receive.js';

const keys: SigningKeys = { current: 'current-amt', previous: 'previous-amt' };
const raw = (text: string) => Buffer.from(text, 'utf8');
const signed = (text: string, key = keys.current) => ({
  rawBody: raw(text),
  signature: hmacHex(key, raw(text)),
});

const stateEvent = JSON.stringify({
  eventId: 'e-1',
  eventType: 'VEHICLE_STATE',
  data: { user: { id: 'u-1' }, vehicle: { id: 'v-1' }, signals: [] },
  meta: { mode: 'LIVE' },
});

describe('receiveWebhook: VERIFY', () => {
  it('answers a v4 VERIFY with HMAC(AMT, challenge)', () => {
    const outcome = receiveWebhook(
      { rawBody: raw('{"eventType":"VERIFY","data":{"challenge":"abc-123"}}'), signature: undefined },
      keys,
    );
    expect(outcome).toEqual({ kind: 'verify', answer: hmacHex('current-amt', 'abc-123') });
  });

  it('answers a v2 VERIFY envelope', () => {
    const body = '{"version":"2.0","webhookId":"w","eventName":"verify","payload":{"challenge":"tok_9"}}';
    expect(receiveWebhook({ rawBody: raw(body), signature: undefined }, keys)).toEqual({
      kind: 'verify',
      answer: hmacHex('current-amt', 'tok_9'),
    });
  });

  it('checks the signature of a signed VERIFY and refuses a wrong one', () => {
    const body = '{"eventType":"VERIFY","data":{"challenge":"abc"}}';
    expect(receiveWebhook(signed(body), keys).kind).toBe('verify');
    expect(receiveWebhook(signed(body, 'previous-amt'), keys).kind).toBe('verify');
    expect(
      receiveWebhook({ rawBody: raw(body), signature: hmacHex('wrong', raw(body)) }, keys),
    ).toMatchObject({
      kind: 'reject',
      status: 401,
      error: 'invalid_signature',
    });
  });

  it.each([
    ['a JSON event (the signing-oracle attack)', stateEvent],
    ['braces', '{abc}'],
    ['a quote', 'ab"c'],
    ['a space', 'ab c'],
    ['a tab', 'ab\tc'],
    ['a newline', 'ab\nc'],
    ['a control character', 'ab\u0001c'],
    ['the empty string', ''],
    ['more than 512 characters', 'a'.repeat(513)],
  ])('refuses a challenge containing %s with 400 and no HMAC', (_name, challenge) => {
    const body = JSON.stringify({ eventType: 'VERIFY', data: { challenge } });
    const outcome = receiveWebhook({ rawBody: raw(body), signature: undefined }, keys);
    expect(outcome).toMatchObject({ kind: 'reject', status: 400, error: 'invalid_challenge' });
    expect(JSON.stringify(outcome)).not.toContain(hmacHex('current-amt', challenge));
  });

  it('accepts a challenge of exactly 512 plain characters', () => {
    const challenge = 'x'.repeat(512);
    const body = JSON.stringify({ eventType: 'VERIFY', data: { challenge } });
    expect(receiveWebhook({ rawBody: raw(body), signature: undefined }, keys).kind).toBe('verify');
  });

  it.each([
    ['a number', 42],
    ['an object', { a: 1 }],
    ['missing', undefined],
  ])('refuses a challenge that is %s', (_name, challenge) => {
    const body = JSON.stringify({ eventType: 'VERIFY', data: { challenge } });
    expect(receiveWebhook({ rawBody: raw(body), signature: undefined }, keys)).toMatchObject({ status: 400 });
  });
});

describe('receiveWebhook: events', () => {
  it('does not parse a body whose signature is wrong: HMAC first, JSON only once authenticated', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const outcome = receiveWebhook({ rawBody: raw(stateEvent), signature: 'f'.repeat(64) }, keys);
      expect(outcome).toMatchObject({ kind: 'reject', status: 401, error: 'invalid_signature' });
      expect(parse).not.toHaveBeenCalled();
      expect(receiveWebhook(signed(stateEvent), keys).kind).toBe('enqueue');
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it('queues a signed event with its raw body unchanged and its attributes', () => {
    const body = `  ${stateEvent.replace('"v-1"', '"v-1" ')}\n`;
    const outcome = receiveWebhook(signed(body), keys);
    expect(outcome).toEqual({
      kind: 'enqueue',
      message: { body, attributes: { eventId: 'e-1', eventType: 'VEHICLE_STATE', vehicleId: 'v-1' } },
    });
  });

  it('accepts an event signed with the previous AMT (rotation)', () => {
    expect(receiveWebhook(signed(stateEvent, 'previous-amt'), keys).kind).toBe('enqueue');
  });

  it('queues signed events of unknown type: the processor decides', () => {
    const body = '{"eventId":"x","eventType":"SOMETHING_NEW","data":{}}';
    expect(receiveWebhook(signed(body), keys)).toMatchObject({
      kind: 'enqueue',
      message: { attributes: { eventId: 'x', eventType: 'SOMETHING_NEW' } },
    });
  });

  it('takes v2 attributes from the envelope', () => {
    const body = JSON.stringify({
      version: '2.0',
      eventName: 'eventBased',
      payload: { eventId: 'p-1', vehicleId: 'veh-2', eventType: 'CHARGING_STARTED' },
    });
    expect(receiveWebhook(signed(body), keys)).toMatchObject({
      message: { attributes: { eventId: 'p-1', eventType: 'eventBased', vehicleId: 'veh-2' } },
    });
  });

  it('omits attributes the body does not carry', () => {
    const outcome = receiveWebhook(signed('{"eventType":"VEHICLE_ERROR"}'), keys);
    expect(outcome).toEqual({
      kind: 'enqueue',
      message: {
        body: '{"eventType":"VEHICLE_ERROR"}',
        attributes: { eventId: undefined, eventType: 'VEHICLE_ERROR', vehicleId: undefined },
      },
    });
  });

  it('401 without a signature', () => {
    expect(receiveWebhook({ rawBody: raw(stateEvent), signature: undefined }, keys)).toMatchObject({
      kind: 'reject',
      status: 401,
      error: 'missing_signature',
    });
    expect(receiveWebhook({ rawBody: raw(stateEvent), signature: '  ' }, keys)).toMatchObject({
      status: 401,
    });
  });

  it('401 with a wrong signature, before looking at the body', () => {
    expect(receiveWebhook({ rawBody: raw('not json'), signature: 'ab'.repeat(32) }, keys)).toMatchObject({
      status: 401,
      error: 'invalid_signature',
    });
  });

  it.each([
    ['not JSON', 'hello'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"VEHICLE_STATE"'],
    ['JSON null', 'null'],
  ])('400 for a signed body that is %s', (_name, body) => {
    expect(receiveWebhook(signed(body), keys)).toMatchObject({ status: 400, error: 'invalid_body' });
  });

  it('verifies a body API Gateway passed as text against the UTF-8 bytes Smartcar signed', () => {
    const text = JSON.stringify({ ...JSON.parse(stateEvent), note: 'Citroën — 北京' });
    const outcome = receiveWebhook({ rawBody: text, signature: hmacHex(keys.current, raw(text)) }, keys);
    expect(outcome).toMatchObject({ kind: 'enqueue', message: { body: text } });
    const latin1Signed = hmacHex(keys.current, Buffer.from(text, 'latin1'));
    expect(receiveWebhook({ rawBody: text, signature: latin1Signed }, keys)).toMatchObject({ status: 401 });
  });

  it('400 for a signed body that is not UTF-8', () => {
    const rawBody = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    expect(receiveWebhook({ rawBody, signature: hmacHex(keys.current, rawBody) }, keys)).toMatchObject({
      status: 400,
    });
  });
});
