import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { smartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { createReceiverHandler } from '../../lambdas/webhook-receiver/create-handler.js';
import { hmacHex } from '../../lambdas/webhook-receiver/signature.js';
import { finishRotation, runRotateAmt, startRotation } from '../../ops/rotate-amt.js';
import { httpEvent, invoke, type HttpHandler } from '../support/api-gateway-events.js';

/**
 * The AMT rotation runbook, end to end against the real receiver and secret source: Secrets Manager is an
 * in-memory mock that `npm run rotate-amt` writes to and the receiver reads from.
 */

const OLD = 'old-management-token';
const NEW = 'new-management-token';
const SECRET_ID = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smartcar-AbCdEf';

const client = new SecretsManagerClient({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const secretsMock = mockClient(client);
let stored: string;
let queued: string[];
const output: string[] = [];

function receiver(): HttpHandler {
  return createReceiverHandler({
    maxBodyBytes: 64 * 1024,
    secret: smartcarSecretSource(SECRET_ID, client),
    queue: {
      send: async (message) => {
        queued.push(message.body);
        return 'm-1';
      },
    },
    logger: new Logger({ serviceName: 'webhook-receiver' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'webhook-receiver' }),
  }) as unknown as HttpHandler;
}

let seq = 0;
function delivery(key: string) {
  const body = JSON.stringify({
    eventId: `e-${++seq}`,
    eventType: 'VEHICLE_STATE',
    data: { vehicle: { id: 'v' } },
  });
  return httpEvent({
    routeKey: 'POST /webhooks/smartcar',
    headers: { 'content-type': 'application/json', 'sc-signature': hmacHex(key, body) },
    body,
  });
}

const rotate = (args: string[], token = '') =>
  runRotateAmt(['--secret-id', SECRET_ID, ...args], {
    client,
    readStdin: () => token,
    log: (line) => output.push(line),
  });

beforeAll(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation(() => true);
  }
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

beforeEach(() => {
  stored = JSON.stringify({ clientId: 'cid', clientSecret: 'cs', managementToken: OLD });
  queued = [];
  output.length = 0;
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).callsFake(() => ({ SecretString: stored, Name: 'smartcar' }));
  secretsMock.on(PutSecretValueCommand).callsFake((input: { SecretString: string }) => {
    stored = input.SecretString;
    return {};
  });
});

describe('rotating the management token', () => {
  it('accepts deliveries signed with either token during the overlap, and only the new one after --finish', async () => {
    const handler = receiver();
    expect((await invoke(handler, delivery(OLD))).status).toBe(200);

    // Smartcar switched to the new token; the operator runs rotate-amt. The receiver's cache still holds OLD.
    expect(await rotate([], `${NEW}\n`)).toBe(0);
    expect(JSON.parse(stored)).toEqual({
      clientId: 'cid',
      clientSecret: 'cs',
      managementToken: NEW,
      previousManagementToken: OLD,
    });
    expect((await invoke(handler, delivery(NEW))).status).toBe(200);
    expect((await invoke(handler, delivery(OLD))).status).toBe(200);
    expect(queued).toHaveLength(3);
    const verify = await invoke(
      handler,
      httpEvent({
        routeKey: 'POST /webhooks/smartcar',
        headers: { 'content-type': 'application/json' },
        body: '{"eventType":"VERIFY","data":{"challenge":"abc"}}',
      }),
    );
    expect(verify.body).toEqual({ challenge: hmacHex(NEW, 'abc') });

    expect(await rotate(['--finish'])).toBe(0);
    expect(JSON.parse(stored)).not.toHaveProperty('previousManagementToken');
    vi.setSystemTime(Date.now() + 6 * 60_000);
    expect((await invoke(handler, delivery(OLD))).status).toBe(401);
    expect((await invoke(handler, delivery(NEW))).status).toBe(200);
    expect(output.join('\n')).not.toContain(NEW);
  });

  it('re-reads the secret at most once per 30 s however many bad signatures arrive', async () => {
    const handler = receiver();
    for (let i = 0; i < 20; i++) expect((await invoke(handler, delivery('forged'))).status).toBe(401);
    // One cold-start read and one forced re-read.
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('refuses to start without a real current token, with the same token, or to finish twice', () => {
    expect(() => startRotation({ managementToken: 'REPLACE_ME' }, NEW)).toThrow(/no real management token/);
    expect(() => startRotation({ managementToken: OLD }, ` ${OLD} `)).toThrow(/current one already/);
    expect(() => startRotation({ managementToken: OLD }, '')).toThrow(/empty/);
    expect(() => finishRotation({ managementToken: NEW })).toThrow(/no rotation in progress/);
  });

  it('--dry-run names the fields it would change and writes nothing', async () => {
    expect(await rotate(['--dry-run'], NEW)).toBe(0);
    expect(output.join('\n')).toContain('changes managementToken, previousManagementToken');
    expect(secretsMock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });
});
