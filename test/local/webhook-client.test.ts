import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { prepareWebhook, sendWebhook, signature, verifyChallengeOf } from '../../local/webhook-client.js';

const v4 = Buffer.from(
  '{\n  "eventId": "old-id",\n  "eventType": "VEHICLE_STATE",\n  "data": {"vehicle": {"id": "v1"}}\n}\n',
);
const v2 = Buffer.from(
  '{"version":"2.0","eventName":"eventBased","payload":{"eventId":"old","vehicleId":"v1"}}',
);
const verify = Buffer.from('{ "eventType": "VERIFY", "data": { "challenge": "hello" } }');

describe('send-webhook body preparation', () => {
  it('gives a v4 event a fresh top-level eventId', () => {
    const prepared = prepareWebhook(v4, { keepId: false });
    const body = JSON.parse(prepared.body.toString()) as { eventId: string; data: unknown };
    expect(prepared.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.eventId).toBe(prepared.eventId);
    expect(body.data).toEqual({ vehicle: { id: 'v1' } });
    expect(prepared.challenge).toBeUndefined();
  });

  it('gives a v2 event a fresh payload.eventId', () => {
    const prepared = prepareWebhook(v2, { keepId: false });
    const body = JSON.parse(prepared.body.toString()) as { eventId?: string; payload: { eventId: string } };
    expect(body.payload.eventId).toBe(prepared.eventId);
    expect(body.eventId).toBeUndefined();
  });

  it('sends the file byte-for-byte with --keep-id and for VERIFY', () => {
    const kept = prepareWebhook(v4, { keepId: true });
    expect(kept.body.equals(v4)).toBe(true);
    expect(kept.eventId).toBe('old-id');
    const challenge = prepareWebhook(verify, { keepId: false });
    expect(challenge.body.equals(verify)).toBe(true);
    expect(challenge.challenge).toBe('hello');
  });

  it('finds VERIFY challenges in v4 and v2 bodies', () => {
    expect(verifyChallengeOf({ eventType: 'VERIFY', data: { challenge: 'c' } })).toBe('c');
    expect(verifyChallengeOf({ eventName: 'verify', payload: { challenge: 'd' } })).toBe('d');
    expect(verifyChallengeOf({ eventType: 'VEHICLE_STATE' })).toBeUndefined();
  });

  it('rejects a file that is not JSON', () => {
    expect(() => prepareWebhook(Buffer.from('nope'), { keepId: false })).toThrow(/not JSON/);
  });
});

describe('sendWebhook', () => {
  it('signs the exact bytes it sends and checks the VERIFY answer', async () => {
    const received: { body: Buffer; signature: string | undefined }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        received.push({ body, signature: req.headers['sc-signature'] as string | undefined });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ challenge: createHmac('sha256', 'amt').update('hello').digest('hex') }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/smartcar`;
    try {
      const ok = await sendWebhook(url, prepareWebhook(verify, { keepId: false }), 'amt');
      expect(ok).toMatchObject({ status: 200, ok: true, challengeVerified: true });
      expect(received[0]?.body.equals(verify)).toBe(true);
      expect(received[0]?.signature).toBe(signature('amt', verify));
      expect(received[0]?.signature).toMatch(/^[0-9a-f]{64}$/);

      const wrong = await sendWebhook(url, prepareWebhook(verify, { keepId: false }), 'other-amt');
      expect(wrong.challengeVerified).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
