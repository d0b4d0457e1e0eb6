import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dynamoCommandAudit, type CommandAuditStore } from '../../lambdas/commands/command-audit.js';
import { confirmCommands } from '../../lambdas/commands/command-confirmation.js';
import { smartcarCommandGateway } from '../../lambdas/commands/command-gateway.js';
import { deadline } from '../../lambdas/runtime/deadline.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { createAccessTokenProvider } from '../../lambdas/tokens/access-token.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../../lambdas/tokens/kms-token-cipher.js';
import { createTokenRotation } from '../../lambdas/tokens/token-rotation.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import { dynamoVehicleLinks, dynamoVehicleReauth } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import type { VehicleLinkStore } from '../../lambdas/vehicles/vehicle-links.js';
import { createCommandHandler } from '../../lambdas/vehicle-command/create-handler.js';
import { ensureTables } from '../../local/stand-ins/dynamodb-tables.js';
import type { FakeSmartcar } from '../../local/stand-ins/smartcar/index.js';
import { httpEvent } from '../support/api-gateway-events.js';
import { startOAuthBackends, type OAuthBackends } from '../support/oauth-backends.js';
import { captureOutput } from '../support/output.js';

/**
 * Vehicle commands end to end, in-process: the command handler with its real adapters, the REAL `smartcar` SDK
 * against the fake Smartcar (which checks that the bearer token opens the vehicle), DynamoDB Local (real
 * transactions and conditions) and the KMS fake.
 */

const CLIENT_ID = 'commands-it-client';
const CLIENT_SECRET = 'commands-it-secret';
const TABLES = { vehicleTable: 'cmd-it-vehicles', tokenTable: 'cmd-it-tokens', auditTable: 'cmd-it-audit' };
const POST = 'POST /vehicles/{vehicleId}/commands';
const GET = 'GET /vehicles/{vehicleId}/commands';

let backends: OAuthBackends;
let fake: FakeSmartcar;
let documentClient: DynamoDBDocumentClient;
let tokens: TokenStore;
let links: VehicleLinkStore;
let audit: CommandAuditStore;
let redirectUri: string;
const logs: string[] = [];
/** Every access token the fake issued: none may appear in a log line or a response. */
const issuedTokens: string[] = [];
/** Every response body the handler gave. */
const responses: string[] = [];
const secret: SmartcarSecretSource = {
  get: () => Promise.resolve({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, managementToken: 'amt' }),
};

beforeAll(async () => {
  backends = await startOAuthBackends({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: 'amt',
  });
  ({ fake, documentClient, redirectUri } = backends);
  await ensureTables(backends.dynamoClient, {
    vehicleTable: TABLES.vehicleTable,
    tokenTable: TABLES.tokenTable,
    oauthStateTable: 'cmd-it-states',
    commandAuditTable: TABLES.auditTable,
  });
  tokens = dynamoTokenStore({
    client: documentClient,
    tableName: TABLES.tokenTable,
    cipher: kmsTokenCipher(backends.kmsClient, 'alias/cmd-it'),
  });
  links = dynamoVehicleLinks({
    client: documentClient,
    vehicleTableName: TABLES.vehicleTable,
    tokenTableName: TABLES.tokenTable,
  });
  audit = dynamoCommandAudit({ client: documentClient, tableName: TABLES.auditTable, retentionDays: 90 });
  captureOutput(logs);
}, 60_000);

afterAll(async () => {
  await backends?.stop();
});

beforeEach(() => {
  logs.length = 0;
  fake.clearCalls();
});

/** Connects a new fake user's vehicle with `scope` granted, as the callback would store it. */
async function connectVehicle(scope: readonly string[], storePermissions = true): Promise<string> {
  const { code, userId, vehicleIds } = fake.createAuthorizationCode({ redirectUri, scope });
  const gateway = smartcarGateway({ secret, redirectUri, mode: 'test' });
  const pair = await gateway.exchangeCode(code, deadline({ perCallMs: 5000, endsAt: Date.now() + 5000 }));
  issuedTokens.push(pair.accessToken, pair.refreshToken);
  const vehicleId = vehicleIds[0] ?? '';
  const permissions = storePermissions
    ? await smartcarCommandGateway().permissions(vehicleId, pair.accessToken, 5000)
    : undefined;
  const grant = await tokens.createGrant({
    appUserId: 'alice',
    smartcarUserId: userId,
    scopes: scope,
    ...(permissions && { permissions }),
    tokens: pair,
    now: Date.now(),
  });
  await links.link({
    vehicleId,
    grantId: grant.grantId,
    appUserId: 'alice',
    smartcarUserId: userId,
    make: null,
    model: null,
    year: null,
    now: Date.now(),
  });
  return vehicleId;
}

function commandHandler(
  options: { commandTimeoutMs?: number; audit?: CommandAuditStore; now?: () => number } = {},
) {
  const logger = new Logger({ serviceName: 'vehicle-command-it', logLevel: 'DEBUG' });
  const metrics = new Metrics({ namespace: 'CommandsIT', serviceName: 'vehicle-command-it' });
  return createCommandHandler({
    links,
    tokens,
    accessTokens: createAccessTokenProvider({
      links,
      tokens,
      rotation: createTokenRotation({
        tokens,
        profiles: dynamoVehicleReauth({ client: documentClient, vehicleTableName: TABLES.vehicleTable }),
        smartcar: smartcarGateway({ secret, redirectUri, mode: 'test' }),
        logger,
        metrics,
        leaseMs: 60_000,
        smartcarTimeoutMs: 5000,
      }),
    }),
    gateway: smartcarCommandGateway(),
    audit: options.audit ?? audit,
    commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
    smartcarTimeoutMs: 5000,
    logger,
    metrics,
    ...(options.now && { now: options.now }),
  });
}

function context(remainingMs = 28_000): Context {
  return {
    getRemainingTimeInMillis: () => remainingMs,
    functionName: 'vehicle-command',
  } as unknown as Context;
}

type Handler = ReturnType<typeof commandHandler>;

async function post(
  handler: Handler,
  vehicleId: string,
  body: unknown,
  headers: Record<string, string> = {},
  remainingMs?: number,
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const event = httpEvent({
    routeKey: POST,
    pathParameters: { vehicleId },
    headers,
    body: JSON.stringify(body),
  });
  const result = (await handler(event, context(remainingMs))) as APIGatewayProxyStructuredResultV2;
  responses.push(JSON.stringify(result));
  return {
    status: result.statusCode ?? 0,
    body: JSON.parse(result.body ?? '{}') as Record<string, unknown>,
    headers: (result.headers ?? {}) as Record<string, unknown>,
  };
}

async function history(handler: Handler, vehicleId: string): Promise<Record<string, unknown>[]> {
  const event = httpEvent({ routeKey: GET, pathParameters: { vehicleId } });
  const result = (await handler(event, context())) as APIGatewayProxyStructuredResultV2;
  responses.push(JSON.stringify(result));
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '{}') as { commands: Record<string, unknown>[] }).commands;
}

const commandCalls = () => fake.calls.filter((call) => call.route === 'command');

describe('vehicle commands through the stored grant', () => {
  it('locks and unlocks the vehicle and shows both attempts in the audit, newest first', async () => {
    const vehicleId = await connectVehicle(['read_vehicle_info', 'control_security']);
    const handler = commandHandler();

    const unlocked = await post(handler, vehicleId, { command: 'UNLOCK', requestedBy: 'booking-42' });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body).toMatchObject({ vehicleId, command: 'UNLOCK', status: 'SENT' });
    expect(typeof unlocked.body.smartcarRequestId).toBe('string');
    expect(fake.vehicleState(vehicleId).isLocked).toBe(false);

    const locked = await post(handler, vehicleId, { command: 'LOCK' });
    expect(locked.status).toBe(200);
    expect(fake.vehicleState(vehicleId).isLocked).toBe(true);

    const commands = await history(handler, vehicleId);
    expect(commands.map((c) => [c.command, c.status, c.requestedBy])).toEqual([
      ['LOCK', 'SENT', null],
      ['UNLOCK', 'SENT', 'booking-42'],
    ]);
    expect(commands[1]?.commandId).toBe(unlocked.body.commandId);
  });

  it('answers two concurrent requests with one Idempotency-Key from one Smartcar call', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler();
    // Slow enough that the second request arrives while the first is still waiting for Smartcar.
    fake.failCommand(vehicleId, { error: 'TIMEOUT', delayMs: 700 });
    const headers = { 'Idempotency-Key': 'handoff-1' };

    const [first, second] = await Promise.all([
      post(handler, vehicleId, { command: 'UNLOCK' }, headers),
      post(handler, vehicleId, { command: 'UNLOCK' }, headers),
    ]);
    expect(commandCalls()).toHaveLength(1);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.commandId).toBe(first.body.commandId);

    const again = await post(handler, vehicleId, { command: 'UNLOCK' }, headers);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(commandCalls()).toHaveLength(1);
    expect(await history(handler, vehicleId)).toHaveLength(1);
  });

  it('refuses the same Idempotency-Key with a different body without calling Smartcar', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler();
    await post(handler, vehicleId, { command: 'LOCK' }, { 'Idempotency-Key': 'k-1' });
    fake.clearCalls();
    const reused = await post(handler, vehicleId, { command: 'UNLOCK' }, { 'Idempotency-Key': 'k-1' });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toBe('idempotency_key_reused');
    expect(commandCalls()).toHaveLength(0);
  });

  it('passes a door-open refusal on as 409 vehicle_state and records it as FAILED', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler();
    fake.failCommand(vehicleId, { error: 'DOOR_OPEN' });
    const refused = await post(handler, vehicleId, { command: 'LOCK' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'vehicle_state', code: 'DOOR_OPEN' });
    const [entry] = await history(handler, vehicleId);
    expect(entry).toMatchObject({ status: 'FAILED', error: { type: 'VEHICLE_STATE', code: 'DOOR_OPEN' } });
  });

  it('passes a rate limit on as 429 with Retry-After', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    fake.failCommand(vehicleId, { error: 'RATE_LIMIT', retryAfter: 42 });
    const limited = await post(commandHandler(), vehicleId, { command: 'LOCK' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('42');
  });

  it('never retries a command that timed out: one call, 502, audit UNKNOWN (and the car did unlock)', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler({ commandTimeoutMs: 300 });
    fake.failCommand(vehicleId, { error: 'TIMEOUT', delayMs: 1_000 });
    const timedOut = await post(handler, vehicleId, { command: 'UNLOCK' });
    expect(timedOut.status).toBe(502);
    expect(timedOut.body.error).toBe('smartcar_unavailable');
    const [entry] = await history(handler, vehicleId);
    expect(entry).toMatchObject({ status: 'UNKNOWN', error: { type: 'TIMEOUT', code: null } });
    // The fake records a call when it answers: wait for the late answer, then count.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(commandCalls()).toHaveLength(1);
    expect(fake.vehicleState(vehicleId).isLocked).toBe(false);
  });

  it('refuses without calling Smartcar: missing permission, disconnected vehicle, unknown vehicle, bad input', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler();
    const noCharge = await post(handler, vehicleId, { command: 'START_CHARGE' });
    expect(noCharge.status).toBe(403);
    expect(noCharge.body.error).toBe('permission_missing');

    const unknown = await post(handler, 'no-such-vehicle', { command: 'LOCK' });
    expect(unknown.status).toBe(404);
    const badKey = await post(handler, vehicleId, { command: 'LOCK' }, { 'Idempotency-Key': 'has space' });
    expect(badKey.body.error).toBe('invalid_idempotency_key');
    const badLimit = await post(handler, vehicleId, { command: 'SET_CHARGE_LIMIT', limit: 0.2 });
    expect(badLimit.body.error).toBe('invalid_command');

    await links.unlink(vehicleId, Date.now());
    const disconnected = await post(handler, vehicleId, { command: 'UNLOCK' });
    expect(disconnected.status).toBe(409);
    expect(disconnected.body.error).toBe('vehicle_not_connected');

    expect(commandCalls()).toHaveLength(0);
    expect(await history(handler, vehicleId)).toHaveLength(0);
  });

  it('judges permissions on what Smartcar says was granted when the grant has none stored', async () => {
    const vehicleId = await connectVehicle(['control_security'], false);
    const refused = await post(commandHandler(), vehicleId, { command: 'STOP_CHARGE' });
    expect(refused.status).toBe(403);
    expect(fake.calls.filter((call) => call.route === 'permissions')).toHaveLength(1);
    expect(commandCalls()).toHaveLength(0);
  });

  it('leaves a PENDING trace when the second audit write fails, read as UNKNOWN once the invocation is over', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const crashing: CommandAuditStore = {
      ...audit,
      finish: () => Promise.reject(new Error('DynamoDB unavailable')),
    };
    const headers = { 'Idempotency-Key': 'crash-1' };
    const answered = await post(
      commandHandler({ audit: crashing }),
      vehicleId,
      { command: 'UNLOCK' },
      headers,
    );
    expect(answered.status).toBe(200);
    const [pending] = await history(commandHandler(), vehicleId);
    expect(pending?.status).toBe('PENDING');

    // Read (and replayed) after that 28 s invocation is over: a clock 30 s ahead.
    const handler = commandHandler({ now: () => Date.now() + 30_000 });
    const [unknown] = await history(handler, vehicleId);
    expect(unknown?.status).toBe('UNKNOWN');
    fake.clearCalls();
    const replayed = await post(handler, vehicleId, { command: 'UNLOCK' }, headers);
    expect(replayed.status).toBe(502);
    expect(commandCalls()).toHaveLength(0);
  });

  it('confirms a sent LOCK from a later closure-islocked report with one Query', async () => {
    const vehicleId = await connectVehicle(['control_security']);
    const handler = commandHandler();
    const sent = await post(handler, vehicleId, { command: 'LOCK' });
    const requestedAt = Date.parse(String(sent.body.requestedAt));
    expect(
      await confirmCommands(audit, vehicleId, [
        { code: 'closure-islocked', value: false, oemUpdatedAt: requestedAt + 10 },
      ]),
    ).toBe(0);
    expect(
      await confirmCommands(audit, vehicleId, [
        { code: 'closure-islocked', value: true, oemUpdatedAt: requestedAt - 10 },
      ]),
    ).toBe(0);
    expect(
      await confirmCommands(audit, vehicleId, [
        { code: 'closure-islocked', value: true, oemUpdatedAt: requestedAt + 10 },
      ]),
    ).toBe(1);
    const [entry] = await history(handler, vehicleId);
    expect(entry).toMatchObject({
      status: 'CONFIRMED',
      confirmedAt: new Date(requestedAt + 10).toISOString(),
    });
  });

  it('never writes a token to a log line or a response', () => {
    expect(issuedTokens.length).toBeGreaterThan(0);
    const output = [...logs, ...responses].join('\n');
    for (const token of issuedTokens) expect(output).not.toContain(token);
  });
});
