import { createServer } from 'node:http';
import smartcar from 'smartcar';
import { afterEach, describe, expect, it } from 'vitest';
import { commandsToConfirm, observedSignals } from '../../lambdas/commands/command-confirmation.js';
import { MAX_UNSENT_ATTEMPTS, smartcarCommandGateway } from '../../lambdas/commands/command-gateway.js';
import { classifySendFailure, effectiveStatus } from '../../lambdas/commands/command-outcome.js';
import {
  parseCommandBody,
  parseIdempotencyKey,
  requestFingerprint,
} from '../../lambdas/commands/command-request.js';
import { TimeoutError } from '../../lambdas/runtime/deadline.js';
import { freePort } from '../support/ports.js';

const smartcarError = (status: number, body: object | string, headers: Record<string, string> = {}) =>
  new smartcar.SmartcarError(status, body, headers);

describe('command requests', () => {
  it('accepts the five commands, a limit only with SET_CHARGE_LIMIT, and a printable requestedBy', () => {
    expect(parseCommandBody('{"command":"UNLOCK","requestedBy":"booking-42"}')).toEqual({
      ok: true,
      value: { command: 'UNLOCK', requestedBy: 'booking-42' },
    });
    expect(parseCommandBody('{"command":"SET_CHARGE_LIMIT","limit":0.8}')).toEqual({
      ok: true,
      value: { command: 'SET_CHARGE_LIMIT', limit: 0.8 },
    });
    for (const bad of [
      '',
      'not json',
      '[]',
      '{"command":"OPEN_TRUNK"}',
      '{"command":"LOCK","limit":0.8}',
      '{"command":"SET_CHARGE_LIMIT"}',
      '{"command":"SET_CHARGE_LIMIT","limit":0.4}',
      '{"command":"SET_CHARGE_LIMIT","limit":80}',
      '{"command":"LOCK","requestedBy":"a\\nb"}',
      `{"command":"LOCK","requestedBy":"${'x'.repeat(129)}"}`,
      '{"command":"LOCK","extra":1}',
    ]) {
      expect(parseCommandBody(bad).ok, bad).toBe(false);
    }
  });

  it('allows Idempotency-Keys of up to 64 of A-Z a-z 0-9 _ - only', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('booking-42_handoff')).toBe('booking-42_handoff');
    expect(parseIdempotencyKey('x'.repeat(64))).toBe('x'.repeat(64));
    for (const bad of ['', 'x'.repeat(65), 'has space', 'a/b', 'ä'])
      expect(parseIdempotencyKey(bad)).toBeNull();
  });

  it('treats bodies that differ only in key order as the same and any field change as different', () => {
    const a = parseCommandBody('{"command":"UNLOCK","requestedBy":"op"}');
    const b = parseCommandBody('{ "requestedBy": "op", "command": "UNLOCK" }');
    const c = parseCommandBody('{"command":"UNLOCK","requestedBy":"op2"}');
    if (!a.ok || !b.ok || !c.ok) throw new Error('unexpected parse failure');
    expect(requestFingerprint(a.value)).toBe(requestFingerprint(b.value));
    expect(requestFingerprint(a.value)).not.toBe(requestFingerprint(c.value));
  });
});

describe('Smartcar errors → audit status and answer', () => {
  it('maps VEHICLE_STATE to 409 vehicle_state with the code, FAILED', () => {
    const result = classifySendFailure(
      smartcarError(409, { type: 'VEHICLE_STATE', code: 'DOOR_OPEN', resolution: { type: 'RETRY_LATER' } }),
    );
    expect(result).toMatchObject({
      status: 'FAILED',
      error: { type: 'VEHICLE_STATE', code: 'DOOR_OPEN' },
      answer: { statusCode: 409, body: { error: 'vehicle_state', code: 'DOOR_OPEN' } },
    });
  });

  it('passes the resolution URL of Tesla’s VIRTUAL_KEY_REQUIRED on with a 409', () => {
    const result = classifySendFailure(
      smartcarError(400, {
        type: 'CONNECTED_SERVICES_ACCOUNT',
        code: 'VIRTUAL_KEY_REQUIRED',
        resolution: { type: 'ACTION_REQUIRED', url: 'https://www.tesla.com/_ak/smartcar.com' },
      }),
    );
    expect(result.answer).toEqual({
      statusCode: 409,
      body: expect.objectContaining({
        error: 'owner_action_required',
        code: 'VIRTUAL_KEY_REQUIRED',
        resolution: { type: 'ACTION_REQUIRED', url: 'https://www.tesla.com/_ak/smartcar.com' },
      }),
    });
  });

  it('maps rate limits (with Retry-After), billing, compatibility and permission errors', () => {
    const limited = classifySendFailure(
      smartcarError(429, { type: 'RATE_LIMIT', code: 'VEHICLE' }, { 'retry-after': '30' }),
    );
    expect(limited.answer).toMatchObject({ statusCode: 429, headers: { 'retry-after': '30' } });
    expect(classifySendFailure(smartcarError(430, { type: 'BILLING' })).answer.statusCode).toBe(402);
    expect(classifySendFailure(smartcarError(501, { type: 'COMPATIBILITY' })).answer).toMatchObject({
      statusCode: 501,
      body: { error: 'not_supported' },
    });
    expect(classifySendFailure(smartcarError(403, { type: 'PERMISSION' })).answer.statusCode).toBe(403);
  });

  it('says UNKNOWN when the request may have reached Smartcar: 5xx, timeouts, reset connections', () => {
    const reset = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    for (const error of [
      smartcarError(500, { type: 'SERVER', code: 'INTERNAL' }),
      smartcarError(502, { type: 'UPSTREAM', code: 'NO_RESPONSE' }),
      smartcarError(408, 'Request timed out'),
      new TimeoutError('UNLOCK', 24_000),
      reset,
    ]) {
      const result = classifySendFailure(error);
      expect(result.status).toBe('UNKNOWN');
      expect(result.notSent).toBe(false);
      expect(result.answer).toMatchObject({ statusCode: 502, body: { error: 'smartcar_unavailable' } });
    }
  });

  it('says FAILED (and not sent) for a refused connection or a failed DNS lookup', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND']) {
      const error = Object.assign(new TypeError('fetch failed'), { cause: { code } });
      expect(classifySendFailure(error)).toMatchObject({ status: 'FAILED', notSent: true });
    }
  });

  it('shows a PENDING item as UNKNOWN once its writer’s invocation is over', () => {
    expect(effectiveStatus('PENDING', 1_000, 999)).toBe('PENDING');
    expect(effectiveStatus('PENDING', 1_000, 1_001)).toBe('UNKNOWN');
    expect(effectiveStatus('SENT', 1_000, 5_000)).toBe('SENT');
  });
});

describe('the never-retry rule', () => {
  let server: ReturnType<typeof createServer> | undefined;
  const savedOrigin = process.env.SMARTCAR_API_ORIGIN;
  afterEach(async () => {
    if (savedOrigin === undefined) delete process.env.SMARTCAR_API_ORIGIN;
    else process.env.SMARTCAR_API_ORIGIN = savedOrigin;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('sends once when Smartcar answers 5xx, and does not try again', async () => {
    let requests = 0;
    server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'SERVER', code: 'INTERNAL', statusCode: 500 }));
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    process.env.SMARTCAR_API_ORIGIN = `http://127.0.0.1:${port}`;
    const result = await smartcarCommandGateway().send('v1', 'token', { command: 'UNLOCK' }, 5_000);
    expect(result).toMatchObject({ ok: false, status: 'UNKNOWN', attempts: 1 });
    expect(requests).toBe(1);
  });

  it('retries only while the connection is refused (nothing was sent), at most a few times', async () => {
    const port = await freePort();
    process.env.SMARTCAR_API_ORIGIN = `http://127.0.0.1:${port}`;
    const result = await smartcarCommandGateway({ sleep: () => Promise.resolve() }).send(
      'v1',
      'token',
      { command: 'UNLOCK' },
      5_000,
    );
    expect(result).toMatchObject({ ok: false, status: 'FAILED', attempts: MAX_UNSENT_ATTEMPTS });
  });
});

describe('confirmation from the vehicle’s report', () => {
  const record = (sk: string, command: string, status: string, requestedAt: number) =>
    ({ sk, command, status, requestedAt }) as Parameters<typeof commandsToConfirm>[1][number];

  it('confirms SENT commands with the reported value up to the newest one that disagrees', () => {
    const observed = { code: 'closure-islocked', value: true, oemUpdatedAt: 1_000 };
    const newestFirst = [
      record('late', 'LOCK', 'SENT', 1_500), // requested after the report: not confirmed by it
      record('c', 'LOCK', 'SENT', 900),
      record('failed', 'UNLOCK', 'FAILED', 800), // did nothing
      record('b', 'LOCK', 'SENT', 700),
      record('unlock', 'UNLOCK', 'SENT', 600), // superseded: the walk ends here
      record('a', 'LOCK', 'SENT', 500),
    ];
    expect(commandsToConfirm(observed, newestFirst)).toEqual(['c', 'b']);
  });

  it('reads only boolean lock and charging signals with an oemUpdatedAt', () => {
    expect(
      observedSignals([
        { kind: 'value', code: 'closure-islocked', body: { value: true }, oemUpdatedAt: 5 },
        { kind: 'value', code: 'charge-ischarging', body: { value: false }, oemUpdatedAt: 6 },
        { kind: 'value', code: 'closure-islocked', body: { value: 'yes' }, oemUpdatedAt: 7 },
        { kind: 'value', code: 'closure-islocked', body: { value: true } },
        { kind: 'value', code: 'odometer-traveleddistance', body: { value: 1 }, oemUpdatedAt: 8 },
        { kind: 'error', code: 'closure-islocked', oemUpdatedAt: 9 },
      ]),
    ).toEqual([
      { code: 'closure-islocked', value: true, oemUpdatedAt: 5 },
      { code: 'charge-ischarging', value: false, oemUpdatedAt: 6 },
    ]);
  });
});
