import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import smartcar from 'smartcar';
import { describe, expect, it } from 'vitest';
import { createSubscribeWorker, parseSubscribeMessage } from '../../lambdas/subscriptions/worker.js';
import type { SubscriptionStore } from '../../lambdas/subscriptions/subscription.js';
import {
  AccessTokenUnavailableError,
  VehicleNotConnectedError,
  type AccessTokenProvider,
} from '../../lambdas/tokens/access-token.js';

/** One subscribe message → the record written and whether (and when) SQS should deliver it again. */

const message = { action: 'subscribe', vehicleId: 'veh-1', webhookId: 'wh-a' } as const;
const logger = new Logger({ serviceName: 'worker-test', logLevel: 'SILENT' });
const metrics = new Metrics({ namespace: 'WorkerTest', serviceName: 'worker-test' });

function smartcarError(status: number, body: object, headers: Record<string, string> = {}) {
  return new smartcar.SmartcarError(status, body, headers);
}

function setup(subscribe: () => Promise<void>, tokens?: AccessTokenProvider['getAccessToken']) {
  const written: unknown[] = [];
  const store: Pick<SubscriptionStore, 'recordAttempt'> = {
    recordAttempt: (_vehicleId, _webhookId, outcome) => {
      written.push(outcome);
      return Promise.resolve(true);
    },
  };
  const worker = createSubscribeWorker({
    store,
    api: { subscribe },
    tokens: {
      getAccessToken:
        tokens ?? (() => Promise.resolve({ accessToken: 'access-1', expiresAt: 0, grantId: 'g-1' })),
    },
    maxAttempts: 3,
    smartcarTimeoutMs: 1_000,
    logger,
    metrics,
    now: () => 0,
    random: () => 0,
  });
  return { worker, written };
}

describe('subscribe worker', () => {
  it('subscribed or "already subscribed" (409): ACTIVE, done', async () => {
    for (const subscribe of [
      () => Promise.resolve(),
      () => Promise.reject(smartcarError(409, { type: 'VALIDATION', description: 'already subscribed' })),
    ]) {
      const { worker, written } = setup(subscribe);
      expect(await worker(message, 1)).toEqual({ result: 'done' });
      expect(written).toEqual([{ status: 'ACTIVE' }]);
    }
  });

  it('429: PENDING with the error, retried after Retry-After', async () => {
    const { worker, written } = setup(() =>
      Promise.reject(
        smartcarError(429, { type: 'RATE_LIMIT', code: 'SMARTCAR_API' }, { 'retry-after': '7' }),
      ),
    );
    expect(await worker(message, 1)).toEqual({ result: 'retry', delaySeconds: 7 });
    expect(written).toEqual([
      { status: 'PENDING', error: { type: 'RATE_LIMIT', code: 'SMARTCAR_API', statusCode: 429 } },
    ]);
  });

  it('5xx: exponential back-off; the last attempt is FAILED and the message goes on to the DLQ', async () => {
    const { worker, written } = setup(() => Promise.reject(smartcarError(500, { type: 'SERVER' })));
    expect(await worker(message, 1)).toEqual({ result: 'retry', delaySeconds: 2 });
    expect(await worker(message, 2)).toEqual({ result: 'retry', delaySeconds: 4 });
    expect(await worker(message, 3)).toEqual({ result: 'retry', delaySeconds: 0 });
    expect(written.map((outcome) => (outcome as { status: string }).status)).toEqual([
      'PENDING',
      'PENDING',
      'FAILED',
    ]);
  });

  it('another 4xx, or a vehicle that is not connected: FAILED at once, not retried', async () => {
    const rejected = setup(() => Promise.reject(smartcarError(404, { type: 'RESOURCE_NOT_FOUND' })));
    expect(await rejected.worker(message, 1)).toEqual({ result: 'done' });
    expect(rejected.written).toEqual([
      { status: 'FAILED', error: { type: 'RESOURCE_NOT_FOUND', code: null, statusCode: 404 } },
    ]);
    const gone = setup(
      () => Promise.resolve(),
      () => Promise.reject(new VehicleNotConnectedError('veh-1')),
    );
    expect(await gone.worker(message, 1)).toEqual({ result: 'done' });
    expect(gone.written).toEqual([
      { status: 'FAILED', error: { type: 'VEHICLE_NOT_CONNECTED', code: null } },
    ]);
  });

  it('no access token right now (refresh throttled): PENDING, retried', async () => {
    const { worker } = setup(
      () => Promise.resolve(),
      () => Promise.reject(new AccessTokenUnavailableError('veh-1', 'rate_limited')),
    );
    expect(await worker(message, 1)).toEqual({ result: 'retry', delaySeconds: 2 });
  });

  it('refuses a body that is not a subscribe message (it fails every time and reaches the DLQ)', () => {
    expect(() => parseSubscribeMessage('not json')).toThrow();
    expect(() => parseSubscribeMessage(JSON.stringify({ ...message, vehicleId: 'a#b' }))).toThrow();
    expect(parseSubscribeMessage(JSON.stringify(message))).toEqual(message);
  });
});
