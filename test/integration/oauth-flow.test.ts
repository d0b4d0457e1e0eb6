import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeSmartcar, NextAuthorization } from '../../local/stand-ins/smartcar/index.js';
import type { KmsFake } from '../../local/stand-ins/kms.js';
import { ensureTables } from '../../local/stand-ins/dynamodb-tables.js';
import { smartcarCommandGateway } from '../../lambdas/commands/command-gateway.js';
import { createCallbackHandler } from '../../lambdas/oauth-callback/create-handler.js';
import { CONNECT_ERRORS } from '../../lambdas/oauth-callback/query.js';
import { createConnectHandler } from '../../lambdas/oauth-connect/create-handler.js';
import { dynamoOAuthStateStore } from '../../lambdas/oauth/dynamo-oauth-state.js';
import { STATE_TTL_SECONDS } from '../../lambdas/oauth/oauth-state.js';
import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecretSource } from '../../lambdas/smartcar/secret.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import { kmsTokenCipher } from '../../lambdas/tokens/kms-token-cipher.js';
import { TokenDecryptionError } from '../../lambdas/tokens/grant.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import { dynamoVehicleLinks } from '../../lambdas/vehicles/dynamo-vehicle-links.js';
import { createDisconnectHandler } from '../../lambdas/vehicle-disconnect/create-handler.js';
import { dynamoVehicleList } from '../../lambdas/vehicle-read/list.js';
import { dynamoVehicleItems } from '../../lambdas/vehicle-read/store.js';
import { createVehicleReadHandler } from '../../lambdas/vehicle-read/create-handler.js';
import { createConfirmHandler } from '../../lambdas/connect-confirm/create-handler.js';
import { createExpiryHandler } from '../../lambdas/connect-expiry/create-handler.js';
import { createReconcileHandler } from '../../lambdas/connection-reconcile/create-handler.js';
import type { ConnectionDeps } from '../../lambdas/connections/deps.js';
import { NO_CONNECTION_HOOKS } from '../../lambdas/connections/hooks.js';
import { httpEvent, invoke, lambdaContext, type HttpHandler } from '../support/api-gateway-events.js';
import { recordIssuedTokens } from '../support/fake-smartcar-sdk.js';
import { startOAuthBackends, type OAuthBackends } from '../support/oauth-backends.js';
import { captureOutput } from '../support/output.js';
import { EMPTY_STATE, encodeState } from '../../lambdas/vehicles/vehicle-state.js';

/**
 * The OAuth feature end to end, in-process: the handlers with their real adapters, the REAL `smartcar` SDK
 * against the fake Smartcar over loopback, DynamoDB Local and the KMS fake (real encryption-context checks).
 */

const CLIENT_ID = 'it-client-id';
const CLIENT_SECRET = 'it-client-secret';
const AMT = 'it-management-token';
const TABLES = {
  vehicleTable: 'oauth-it-vehicles',
  oauthStateTable: 'oauth-it-states',
  tokenTable: 'oauth-it-tokens',
};
const KEY_ALIAS = 'alias/oauth-it-tokens';
const SUCCESS_URL = 'https://app.example.com/connected?from=smartcar';
const FAILURE_URL = 'https://app.example.com/connect-failed';

let backends: OAuthBackends;
let kms: KmsFake;
let fake: FakeSmartcar;
let documentClient: DynamoDBDocumentClient;
let tokens: TokenStore;
let redirectUri: string;
let connectHandler: HttpHandler;
let callbackHandler: HttpHandler;
let readHandler: HttpHandler;
let disconnectHandler: HttpHandler;
let confirmHandler: HttpHandler;
let expiryHandler: (event: { time?: string }) => Promise<unknown>;
let reconcileHandler: (event: { time?: string }) => Promise<unknown>;
let connections: ConnectionDeps;
/** Every token the fake's token endpoint handed out, read from its responses. */
const issuedTokens: string[] = [];
const logs: string[] = [];

const secret: SmartcarSecretSource = {
  get: () => Promise.resolve({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, managementToken: AMT }),
};

beforeAll(async () => {
  backends = await startOAuthBackends({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    managementToken: AMT,
  });
  ({ kms, fake, documentClient, redirectUri } = backends);
  await ensureTables(backends.dynamoClient, TABLES);

  // Capture what the token endpoint really issued.
  recordIssuedTokens(fake, (issued) => issuedTokens.push(issued.accessToken, issued.refreshToken));
  captureOutput(logs);

  const logger = new Logger({ serviceName: 'oauth-it', logLevel: 'DEBUG' });
  const metrics = new Metrics({ namespace: 'OAuthIT', serviceName: 'oauth-it' });
  const states = dynamoOAuthStateStore(documentClient, TABLES.oauthStateTable);
  const gateway = smartcarGateway({
    secret,
    redirectUri,
    mode: 'test',
    managementOrigin: fake.env.SMARTCAR_MANAGEMENT_API_ORIGIN,
  });
  tokens = dynamoTokenStore({
    client: documentClient,
    tableName: TABLES.tokenTable,
    cipher: kmsTokenCipher(backends.kmsClient, KEY_ALIAS),
  });
  const links = dynamoVehicleLinks({
    client: documentClient,
    vehicleTableName: TABLES.vehicleTable,
    tokenTableName: TABLES.tokenTable,
  });
  connectHandler = createConnectHandler({
    states,
    smartcar: gateway,
    defaultScopes: ['read_vehicle_info', 'read_odometer'],
    mode: 'test',
    logger,
  }) as unknown as HttpHandler;
  callbackHandler = createCallbackHandler({
    states,
    smartcar: gateway,
    secret,
    tokens,
    links,
    grantedPermissions: (accessToken, vehicleId, limit) =>
      smartcarCommandGateway().permissions(vehicleId, accessToken, limit.budget()),
    successUrl: SUCCESS_URL,
    failureUrl: FAILURE_URL,
    smartcarTimeoutMs: 5_000,
    logger,
    metrics,
  }) as unknown as HttpHandler;
  readHandler = createVehicleReadHandler({
    items: dynamoVehicleItems(documentClient, TABLES.vehicleTable),
    list: dynamoVehicleList(documentClient, TABLES.vehicleTable),
    logger,
  }) as unknown as HttpHandler;
  disconnectHandler = createDisconnectHandler({
    links,
    tokens,
    smartcar: gateway,
    smartcarTimeoutMs: 5_000,
    logger,
    metrics,
  }) as unknown as HttpHandler;
  connections = {
    links,
    tokens,
    smartcar: gateway,
    hooks: NO_CONNECTION_HOOKS,
    smartcarTimeoutMs: 5_000,
    logger,
  };
  confirmHandler = createConfirmHandler({ ...connections, metrics }) as unknown as HttpHandler;
  const context = lambdaContext('jobs', 60_000);
  const expiry = createExpiryHandler({ ...connections, metrics });
  expiryHandler = (event) => expiry(event, context);
  const reconcile = createReconcileHandler({ ...connections, metrics, revokeOrphans: true });
  reconcileHandler = (event) => reconcile(event, context);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await backends?.stop();
});

beforeEach(() => {
  logs.length = 0;
});

afterEach(() => {
  fake.setDown(false, { routes: ['management', 'token', 'user', 'vehicles', 'vehicle'] });
});

// --- helpers -------------------------------------------------------------------------------------------

const newUserId = () => `app-user-${randomBytes(6).toString('hex')}`;

async function startConnect(userId: string, scopes?: string[]) {
  const answer = await invoke(
    connectHandler,
    httpEvent({ routeKey: 'POST /connect', body: JSON.stringify({ userId, ...(scopes && { scopes }) }) }),
  );
  expect(answer.status).toBe(200);
  return answer.body as { url: string; state: string; expiresAt: string };
}

/** Follows the Connect URL like a browser that approves at once; returns the redirect back to us. */
async function approveInConnect(url: string, next?: NextAuthorization): Promise<URL> {
  if (next) fake.nextAuthorization(next);
  const response = await fetch(`${url}&fake_auto=1`, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location') ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
  return location;
}

function callback(rawQueryString: string) {
  return invoke(callbackHandler, httpEvent({ routeKey: 'GET /oauth/callback', rawQueryString }));
}

function confirm(connectId: string, userId: string) {
  return invoke(
    confirmHandler,
    httpEvent({
      routeKey: 'POST /connect/{connectId}/confirm',
      pathParameters: { connectId },
      body: JSON.stringify({ userId }),
    }),
  );
}

/** POST /connect → Connect → GET /oauth/callback, without the confirm. */
async function connectPending(userId: string, next?: NextAuthorization) {
  const { url } = await startConnect(userId);
  const back = await approveInConnect(url, next);
  const query = back.search.slice(1);
  const answer = await callback(query);
  expect(answer.status).toBe(302);
  const location = answer.location as URL;
  return { location, query, answer, connectId: location.searchParams.get('connectId') ?? '' };
}

/**
 * POST /connect → Connect → GET /oauth/callback → the app's confirm for the same user; returns the callback's
 * redirect and query, and the confirm's answer.
 */
async function connectVehicles(userId: string, next?: NextAuthorization) {
  const pending = await connectPending(userId, next);
  const confirmed =
    pending.location.searchParams.get('status') === 'pending'
      ? await confirm(pending.connectId, userId)
      : undefined;
  return { ...pending, confirmed };
}

function expectSuccess(location: URL, vehicles: number) {
  expect(`${location.origin}${location.pathname}`).toBe('https://app.example.com/connected');
  expect(location.searchParams.get('from')).toBe('smartcar');
  expect(location.searchParams.get('status')).toBe('pending');
  expect(location.searchParams.get('connectId')).toMatch(/^[0-9a-f-]{36}$/);
  expect(location.searchParams.get('vehicles')).toBe(String(vehicles));
}

function expectFailure(location: URL | undefined, reason: string) {
  expect(location?.toString()).toBe(`${FAILURE_URL}?reason=${reason}`);
}

async function listVehicles(userId: string, query: Record<string, string> = {}) {
  return invoke(readHandler, httpEvent({ routeKey: 'GET /vehicles', query: { userId, ...query } }));
}

async function readVehicle(vehicleId: string) {
  return invoke(
    readHandler,
    httpEvent({ routeKey: 'GET /vehicles/{vehicleId}', pathParameters: { vehicleId } }),
  );
}

async function disconnect(vehicleId: string) {
  return invoke(
    disconnectHandler,
    httpEvent({ routeKey: 'DELETE /vehicles/{vehicleId}', pathParameters: { vehicleId } }),
  );
}

async function profile(vehicleId: string) {
  const result = await documentClient.send(
    new GetCommand({ TableName: TABLES.vehicleTable, Key: { pk: `VEHICLE#${vehicleId}`, sk: 'PROFILE' } }),
  );
  return result.Item;
}

async function grantItem(grantId: string) {
  const result = await documentClient.send(
    new GetCommand({ TableName: TABLES.tokenTable, Key: { grantId }, ConsistentRead: true }),
  );
  return result.Item;
}

async function scanAll(tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

async function grantsOf(appUserId: string) {
  return (await scanAll(TABLES.tokenTable)).filter((item) => item.appUserId === appUserId);
}

const tokenCalls = () => fake.calls.filter((call) => call.route === 'token').length;

// --- tests ---------------------------------------------------------------------------------------------

describe('connect → callback → token store → vehicle list', () => {
  it('links every vehicle of the grant to the app user, with the tokens encrypted, and lists them', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({
      vehicles: [
        { make: 'TESLA', model: 'Model Y', year: 2022 },
        { make: 'KIA', model: 'EV6', year: 2024 },
      ],
    });
    const { url, state, expiresAt } = await startConnect(userId, [
      'read_vehicle_info',
      'required:read_odometer',
    ]);
    const connectUrl = new URL(url);
    expect(connectUrl.origin).toBe(fake.url);
    expect(connectUrl.searchParams.get('state')).toBe(state);
    expect(connectUrl.searchParams.get('mode')).toBe('test');
    expect(connectUrl.searchParams.get('scope')).toBe('read_vehicle_info required:read_odometer');
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan((STATE_TTL_SECONDS - 5) * 1000);

    const back = await approveInConnect(url, { userId: owner.id });
    expect(back.searchParams.get('state')).toBe(state);
    const answer = await callback(back.search.slice(1));
    expect(answer.status).toBe(302);
    expect(answer.headers['cache-control']).toBe('no-store');
    expectSuccess(answer.location as URL, 2);
    // Nothing is listed until the app's backend confirms it for the user logged in on that browser.
    expect((await listVehicles(userId)).body.vehicles).toEqual([]);
    const connectId = (answer.location as URL).searchParams.get('connectId') ?? '';
    const confirmed = await confirm(connectId, userId);
    expect(confirmed.status).toBe(200);
    const confirmedIds = owner.vehicles
      .map((v) => ({ vehicleId: v.id }))
      .sort((a, b) => a.vehicleId.localeCompare(b.vehicleId));
    expect(confirmed.body).toEqual({ userId, vehicles: confirmedIds });
    // Idempotent: the same user confirming again gets the same answer.
    expect(await confirm(connectId, userId)).toMatchObject({ status: 200, body: confirmed.body });

    const grants = await grantsOf(userId);
    expect(grants).toHaveLength(1);
    const grant = grants[0] as Record<string, unknown>;
    expect(grant).toMatchObject({
      appUserId: userId,
      smartcarUserId: owner.id,
      version: 1,
      status: 'ACTIVE',
      keyId: kms.keyArn(KEY_ALIAS),
      scopes: ['read_vehicle_info', 'required:read_odometer'],
    });
    // What the owner granted, read once at connect time, for the command Lambda.
    expect(grant.permissions).toEqual(expect.arrayContaining(['read_vehicle_info']));
    expect([...(grant.vehicleIds as Set<string>)].sort()).toEqual(owner.vehicles.map((v) => v.id).sort());
    expect(grant.refreshExpiresAt as number).toBeGreaterThan(Date.now() + 59 * 24 * 3600 * 1000);

    // Each token was encrypted under the grant's context, one field each.
    const contexts = kms.calls
      .filter((call) => call.operation === 'Encrypt' && call.encryptionContext?.grantId === grant.grantId)
      .map((call) => call.encryptionContext);
    expect(contexts).toEqual(
      expect.arrayContaining([
        { grantId: grant.grantId, appUserId: userId, tokenType: 'access' },
        { grantId: grant.grantId, appUserId: userId, tokenType: 'refresh' },
      ]),
    );
    // The decrypted pair is exactly what the fake issued, and the access token is the one it then saw.
    const stored = await tokens.readGrantTokens(grant.grantId as string);
    expect(issuedTokens).toContain(stored?.tokens.accessToken);
    expect(issuedTokens).toContain(stored?.tokens.refreshToken);
    expect(fake.refreshTokenState(stored?.tokens.refreshToken ?? '')).toBe('active');
    expect(fake.calls.filter((c) => c.route === 'vehicles').map((c) => c.accessToken)).toContain(
      stored?.tokens.accessToken,
    );

    const list = await listVehicles(userId);
    expect(list.status).toBe(200);
    // Make, model and year come from the vehicle's first webhook: the callback makes no per-vehicle call.
    expect(list.body).toEqual({
      userId,
      vehicles: owner.vehicles
        .map((v) => ({
          vehicleId: v.id,
          make: null,
          model: null,
          year: null,
          status: 'CONNECTED',
          actionRequired: null,
        }))
        .sort((a, b) => a.vehicleId.localeCompare(b.vehicleId)),
      nextToken: null,
    });

    const [first] = owner.vehicles;
    const single = await readVehicle(first?.id ?? '');
    expect(single.body).toMatchObject({
      vehicleId: first?.id,
      userId,
      appUserId: userId,
      smartcarUserId: owner.id,
      status: 'CONNECTED',
    });
    expect((await profile(first?.id ?? ''))?.grantId).toBe(grant.grantId);
    // The permissions the owner granted (read at connect time), on the profile: which signals count for the
    // vehicle's status.
    expect(grant.permissions).toEqual(expect.arrayContaining(['read_vehicle_info', 'read_odometer']));
    expect((await profile(first?.id ?? ''))?.permissions).toEqual(grant.permissions);
  });

  it('stores no plaintext token anywhere in DynamoDB and logs none (nor the code or the state)', async () => {
    const userId = newUserId();
    const { url, state } = await startConnect(userId);
    const back = await approveInConnect(url, { vehicles: [{}, {}] });
    const code = back.searchParams.get('code') ?? '';
    expectSuccess((await callback(back.search.slice(1))).location as URL, 2);
    expect(issuedTokens.length).toBeGreaterThanOrEqual(2);
    expect(logs.join('')).toContain('Connect waiting for confirmation');

    const secrets = [...issuedTokens, code, state];
    for (const tableName of Object.values(TABLES)) {
      const dump = JSON.stringify(await scanAll(tableName), (_key, value: unknown) =>
        value instanceof Set ? [...(value as Set<unknown>)] : value,
      );
      for (const token of issuedTokens) {
        expect(dump).not.toContain(token);
        expect(dump).not.toContain(Buffer.from(token).toString('base64'));
      }
    }
    const logText = logs.join('');
    for (const value of secrets) expect(logText).not.toContain(value);
  });

  it('lists a user with more vehicles than a page, with a nextToken that only works for that user', async () => {
    const userId = newUserId();
    const { location } = await connectVehicles(userId, { vehicles: [{}, {}, {}] });
    expectSuccess(location, 3);

    const first = await listVehicles(userId, { limit: '2' });
    expect(first.status).toBe(200);
    expect(first.body.vehicles).toHaveLength(2);
    const nextToken = first.body.nextToken as string;
    expect(typeof nextToken).toBe('string');
    const second = await listVehicles(userId, { limit: '2', nextToken });
    expect(second.body.vehicles).toHaveLength(1);
    const all = [
      ...(first.body.vehicles as { vehicleId: string }[]),
      ...(second.body.vehicles as { vehicleId: string }[]),
    ];
    expect(new Set(all.map((v) => v.vehicleId)).size).toBe(3);

    expect((await listVehicles(newUserId(), { nextToken })).status).toBe(400);
    expect((await listVehicles(userId, { nextToken: 'garbage!' })).status).toBe(400);
    expect((await listVehicles(newUserId())).body).toMatchObject({ vehicles: [], nextToken: null });
    expect((await invoke(readHandler, httpEvent({ routeKey: 'GET /vehicles' }))).status).toBe(400);
  });

  it('derives NEEDS_REAUTH in the list from an active error, and DISCONNECTED wins', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 2);
    const [a, b] = owner.vehicles.map((v) => v.id) as [string, string];
    for (const vehicleId of [a, b]) {
      await documentClient.send(
        new PutCommand({
          TableName: TABLES.vehicleTable,
          // The vehicle's state item as the processor writes it after a VEHICLE_ERROR.
          Item: {
            pk: `VEHICLE#${vehicleId}`,
            sk: 'STATE',
            ...encodeState({
              ...EMPTY_STATE,
              version: 1,
              errors: {
                'PERMISSION#NONE': {
                  type: 'PERMISSION',
                  code: null,
                  state: 'ERROR',
                  resolution: { type: 'REAUTHENTICATE' },
                  signals: [],
                  at: Date.now(),
                },
              },
            }),
          },
        }),
      );
    }
    expect((await disconnect(b)).status).toBe(200);
    const list = await listVehicles(userId);
    const statuses = Object.fromEntries(
      (list.body.vehicles as { vehicleId: string; status: string }[]).map((v) => [v.vehicleId, v.status]),
    );
    expect(statuses).toEqual({ [a]: 'NEEDS_REAUTH', [b]: 'DISCONNECTED' });
  });
});

describe('state protection', () => {
  it('a second hit on the same callback URL is invalid_state and does not exchange again', async () => {
    const userId = newUserId();
    const { location, query } = await connectVehicles(userId, { vehicles: [{}] });
    expectSuccess(location, 1);
    const exchanges = tokenCalls();

    const replay = await callback(query);
    expectFailure(replay.location, 'invalid_state');
    expect(tokenCalls()).toBe(exchanges);
    expect(await grantsOf(userId)).toHaveLength(1);
  });

  it('refuses an expired state without exchanging, even though TTL has not removed it', async () => {
    const userId = newUserId();
    const states = dynamoOAuthStateStore(documentClient, TABLES.oauthStateTable);
    const old = await states.create({
      appUserId: userId,
      scopes: [],
      mode: 'test',
      now: Date.now() - (STATE_TTL_SECONDS + 1) * 1000,
    });
    const { code } = fake.createAuthorizationCode({ redirectUri, vehicles: [{}] });
    const exchanges = tokenCalls();
    const answer = await callback(new URLSearchParams({ code, state: old.state }).toString());
    expectFailure(answer.location, 'invalid_state');
    expect(tokenCalls()).toBe(exchanges);
    expect(await grantsOf(userId)).toHaveLength(0);
  });

  it('refuses an unknown, malformed or missing state', async () => {
    const { code } = fake.createAuthorizationCode({ redirectUri, vehicles: [{}] });
    const exchanges = tokenCalls();
    for (const query of [
      new URLSearchParams({ code, state: randomBytes(32).toString('base64url') }),
      new URLSearchParams({ code, state: 'short' }),
      new URLSearchParams({ code }),
    ]) {
      expectFailure((await callback(query.toString())).location, 'invalid_state');
    }
    expect(tokenCalls()).toBe(exchanges);
  });

  it('refuses a state record of another flow', async () => {
    const userId = newUserId();
    const state = randomBytes(32).toString('base64url');
    await documentClient.send(
      new PutCommand({
        TableName: TABLES.oauthStateTable,
        Item: {
          state,
          flow: 'reauth',
          appUserId: userId,
          scopes: [],
          mode: 'test',
          createdAt: Date.now(),
          expiresAt: Math.floor(Date.now() / 1000) + 600,
        },
      }),
    );
    const { code } = fake.createAuthorizationCode({ redirectUri, vehicles: [{}] });
    expectFailure(
      (await callback(new URLSearchParams({ code, state }).toString())).location,
      'invalid_state',
    );
    expect(await grantsOf(userId)).toHaveLength(0);
    const record = await documentClient.send(
      new GetCommand({ TableName: TABLES.oauthStateTable, Key: { state } }),
    );
    expect(record.Item?.consumedAt).toBeUndefined();
  });
});

describe('Connect errors and Smartcar failures', () => {
  it.each(CONNECT_ERRORS)('passes the Connect error %s through and consumes the state', async (error) => {
    const userId = newUserId();
    const { url, state } = await startConnect(userId);
    const back = await approveInConnect(url, { error });
    expect(back.searchParams.get('error')).toBe(error);
    const exchanges = tokenCalls();
    const answer = await callback(back.search.slice(1));
    expectFailure(answer.location, error);
    expect(tokenCalls()).toBe(exchanges);
    const record = await documentClient.send(
      new GetCommand({ TableName: TABLES.oauthStateTable, Key: { state }, ConsistentRead: true }),
    );
    expect(typeof record.Item?.consumedAt).toBe('number');
    // Consumed: the same URL again is a replay.
    expectFailure((await callback(back.search.slice(1))).location, 'invalid_state');
  });

  it('maps an undocumented error to connect_error and never echoes error_description', async () => {
    const { state } = await startConnect(newUserId());
    const answer = await callback(
      new URLSearchParams({
        error: '<script>alert(1)</script>',
        error_description: '<b>evil</b>',
        state,
      }).toString(),
    );
    expectFailure(answer.location, 'connect_error');
    expect(answer.location?.toString()).not.toContain('evil');
    expect(logs.join('')).not.toContain('evil');
  });

  it('a redirect without code is missing_code (and the state is used up)', async () => {
    const { state } = await startConnect(newUserId());
    expectFailure((await callback(new URLSearchParams({ state }).toString())).location, 'missing_code');
    expectFailure(
      (await callback(new URLSearchParams({ state, code: 'x' }).toString())).location,
      'invalid_state',
    );
  });

  it('a failed code exchange is exchange_failed and stores nothing', async () => {
    const userId = newUserId();
    const { url } = await startConnect(userId);
    const back = await approveInConnect(url, { vehicles: [{}] });
    fake.failNext('token', 500);
    expectFailure((await callback(back.search.slice(1))).location, 'exchange_failed');
    expect(await grantsOf(userId)).toHaveLength(0);

    // A code Smartcar rejects (invalid_grant) is the same for the owner.
    const again = await startConnect(userId);
    const state = again.state;
    expectFailure(
      (await callback(new URLSearchParams({ code: 'not-a-code', state }).toString())).location,
      'exchange_failed',
    );
  });

  it.each([
    ['vehicles', 500],
    ['user', 503],
  ] as const)(
    'a failing %s call after the exchange is smartcar_unavailable, links nothing, and leaves no live connection without a grant',
    async (route, status) => {
      const userId = newUserId();
      const owner = fake.registerUser({ vehicles: [{}, {}] });
      const { url } = await startConnect(userId);
      const back = await approveInConnect(url, { userId: owner.id });
      fake.failNext(route, status);
      expectFailure((await callback(back.search.slice(1))).location, 'smartcar_unavailable');
      expect((await listVehicles(userId)).body.vehicles).toEqual([]);
      // The grant is kept (pending, its window cut to now) so that the expiry job can revoke what the
      // exchange created: Smartcar's connections are all accounted for.
      const [grant] = await grantsOf(userId);
      expect(grant?.status).toBe('PENDING');
      const live = fake.connections().filter((c) => c.userId === owner.id);
      expect(live.length).toBeGreaterThan(0);
      await expiryHandler({ time: new Date().toISOString() });
      expect(await grantsOf(userId)).toHaveLength(0);
      expect(fake.connections().filter((c) => c.userId === owner.id)).toEqual([]);
    },
  );
});

describe('re-connecting', () => {
  it('moves the vehicles to the new grant and deletes the emptied old grant', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 2);
    const [oldGrant] = await grantsOf(userId);
    const oldGrantId = oldGrant?.grantId as string;

    // Only the first vehicle again: the old grant keeps the second and stays.
    const [first, second] = owner.vehicles.map((v) => v.id) as [string, string];
    expectSuccess((await connectVehicles(userId, { userId: owner.id, vehicleIds: [first] })).location, 1);
    const afterPartial = await grantsOf(userId);
    expect(afterPartial).toHaveLength(2);
    const middleGrantId = afterPartial.find((g) => g.grantId !== oldGrantId)?.grantId as string;
    expect((await profile(first))?.grantId).toBe(middleGrantId);
    expect([...((await grantItem(oldGrantId))?.vehicleIds as Set<string>)]).toEqual([second]);

    // Both again: the old grant loses its last vehicle and is deleted; so is the middle one.
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 2);
    const remaining = await grantsOf(userId);
    expect(remaining).toHaveLength(1);
    const newGrantId = remaining[0]?.grantId as string;
    expect(await grantItem(oldGrantId)).toBeUndefined();
    expect(await grantItem(middleGrantId)).toBeUndefined();
    expect((await profile(first))?.grantId).toBe(newGrantId);
    expect((await profile(second))?.grantId).toBe(newGrantId);
  });

  it('a disconnected vehicle that is connected again is CONNECTED, without disconnectedAt', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 1);
    const vehicleId = owner.vehicles[0]?.id ?? '';
    expect((await disconnect(vehicleId)).status).toBe(200);
    expect(await grantsOf(userId)).toHaveLength(0);

    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 1);
    const item = await profile(vehicleId);
    expect(item).toMatchObject({ status: 'CONNECTED', appUserId: userId });
    expect(item?.disconnectedAt).toBeUndefined();
  });
});

describe('token encryption context', () => {
  it('a ciphertext moved to another grant, another field or another user does not decrypt', async () => {
    const userId = newUserId();
    expectSuccess((await connectVehicles(userId, { vehicles: [{}] })).location, 1);
    expectSuccess((await connectVehicles(userId, { vehicles: [{}] })).location, 1);
    const [one, two] = (await grantsOf(userId)) as [Record<string, unknown>, Record<string, unknown>];
    expect(await tokens.readGrantTokens(two.grantId as string)).toBeDefined();

    const setFields = async (grantId: unknown, fields: Record<string, unknown>) => {
      const names = Object.keys(fields);
      await documentClient.send(
        new UpdateCommand({
          TableName: TABLES.tokenTable,
          Key: { grantId },
          UpdateExpression: `SET ${names.map((n, i) => `#f${i} = :v${i}`).join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#f${i}`, n])),
          ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, fields[n]])),
        }),
      );
    };

    // Grant one's access token copied onto grant two.
    await setFields(two.grantId, { accessToken: one.accessToken });
    await expect(tokens.readGrantTokens(two.grantId as string)).rejects.toBeInstanceOf(TokenDecryptionError);
    await setFields(two.grantId, { accessToken: two.accessToken });
    expect(await tokens.readGrantTokens(two.grantId as string)).toBeDefined();

    // Access and refresh swapped within the same grant.
    await setFields(two.grantId, { accessToken: two.refreshToken, refreshToken: two.accessToken });
    await expect(tokens.readGrantTokens(two.grantId as string)).rejects.toBeInstanceOf(TokenDecryptionError);
    await setFields(two.grantId, { accessToken: two.accessToken, refreshToken: two.refreshToken });

    // The grant re-assigned to another app user.
    await setFields(two.grantId, { appUserId: newUserId() });
    await expect(tokens.readGrantTokens(two.grantId as string)).rejects.toBeInstanceOf(TokenDecryptionError);
    await setFields(two.grantId, { appUserId: userId });
    expect(await tokens.readGrantTokens(two.grantId as string)).toBeDefined();
  });
});

describe('DELETE /vehicles/{vehicleId}', () => {
  it('deletes the Smartcar connection (vehicle and user), marks the profile and deletes the emptied grant', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 2);
    const [first, second] = owner.vehicles.map((v) => v.id) as [string, string];
    const [grant] = await grantsOf(userId);
    const grantId = grant?.grantId as string;

    const answer = await disconnect(first);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ vehicleId: first, status: 'DISCONNECTED' });
    const call = fake.calls.findLast((c) => c.route === 'management');
    expect(call).toMatchObject({
      method: 'DELETE',
      status: 200,
      query: { vehicle_id: first, user_id: owner.id },
    });
    expect(fake.connections().some((c) => c.vehicleId === first)).toBe(false);
    expect(fake.connections().some((c) => c.vehicleId === second)).toBe(true);
    const item = await profile(first);
    expect(item).toMatchObject({ status: 'DISCONNECTED', appUserId: userId });
    expect(item?.grantId).toBeUndefined();
    expect(typeof item?.disconnectedAt).toBe('number');
    // The grant still serves the second vehicle.
    expect([...((await grantItem(grantId))?.vehicleIds as Set<string>)]).toEqual([second]);
    expect((await readVehicle(first)).body.status).toBe('DISCONNECTED');

    expect((await disconnect(second)).status).toBe(200);
    expect(await grantItem(grantId)).toBeUndefined();
  });

  it('answers 502 and changes nothing while Smartcar is down; a retry then succeeds', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 1);
    const vehicleId = owner.vehicles[0]?.id ?? '';
    const [grant] = await grantsOf(userId);
    const profileBefore = await profile(vehicleId);

    fake.setDown(true);
    const down = await disconnect(vehicleId);
    expect(down.status).toBe(502);
    expect(down.body).toMatchObject({ error: 'smartcar_unavailable' });
    expect(await profile(vehicleId)).toEqual(profileBefore);
    expect(await grantItem(grant?.grantId as string)).toEqual(grant);

    fake.setDown(true, { html: true });
    expect((await disconnect(vehicleId)).status).toBe(502);
    expect(await profile(vehicleId)).toEqual(profileBefore);

    fake.setDown(false);
    expect((await disconnect(vehicleId)).status).toBe(200);
    expect((await profile(vehicleId))?.status).toBe('DISCONNECTED');
    expect(await grantItem(grant?.grantId as string)).toBeUndefined();
  });

  it('is idempotent and answers 404 for an unknown vehicle, 400 for a malformed id', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 1);
    const vehicleId = owner.vehicles[0]?.id ?? '';
    expect((await disconnect(vehicleId)).status).toBe(200);
    const managementCalls = fake.calls.filter((c) => c.route === 'management').length;
    const again = await disconnect(vehicleId);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ vehicleId, status: 'DISCONNECTED' });
    expect(fake.calls.filter((c) => c.route === 'management').length).toBe(managementCalls);

    expect((await disconnect('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await disconnect('a#b')).status).toBe(400);
  });

  it('heals a profile that points to a grant that no longer exists', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    expectSuccess((await connectVehicles(userId, { userId: owner.id })).location, 1);
    const vehicleId = owner.vehicles[0]?.id ?? '';
    const [grant] = await grantsOf(userId);
    await documentClient.send(
      new DeleteCommand({ TableName: TABLES.tokenTable, Key: { grantId: grant?.grantId } }),
    );
    expect((await disconnect(vehicleId)).status).toBe(200);
    expect((await profile(vehicleId))?.status).toBe('DISCONNECTED');
    expect(await grantItem(grant?.grantId as string)).toBeUndefined();
  });
});

// --- the connection life cycle: confirm, expiry, moves, user removal, reconciliation ---------------------

const revocations = (userId: string) =>
  fake.calls
    .filter((c) => c.route === 'management' && c.method === 'DELETE' && c.query.user_id === userId)
    .map((c) => c.query.vehicle_id)
    .sort();

async function removeUser(userId: string) {
  return invoke(
    disconnectHandler,
    httpEvent({ routeKey: 'DELETE /users/{userId}', pathParameters: { userId } }),
  );
}

const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

describe('confirmation bound to the app session', () => {
  it("a victim finishing the attacker's Connect URL: the attacker's confirm links nothing, is 403, and the victim's connection is revoked", async () => {
    const attacker = newUserId();
    const victimsCar = fake.registerUser({ vehicles: [{}] });
    // The attacker starts a Connect for their own account and sends the URL to the victim, who approves.
    const { location, connectId } = await connectPending(attacker, { userId: victimsCar.id });
    expect(location.searchParams.get('status')).toBe('pending');
    expect(location.searchParams.has('code')).toBe(false);

    // The victim's browser lands on the app; the app confirms for whoever is logged in there: the victim.
    const victim = newUserId();
    const refused = await confirm(connectId, victim);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'connect_user_mismatch' });
    expect(revocations(victimsCar.id)).toEqual(victimsCar.vehicles.map((v) => v.id).sort());
    expect(fake.connections().filter((c) => c.userId === victimsCar.id)).toEqual([]);
    expect(await grantsOf(attacker)).toHaveLength(0);
    // Nothing was ever linked, for either of them; and the attacker cannot confirm it afterwards.
    expect((await listVehicles(attacker)).body.vehicles).toEqual([]);
    expect((await listVehicles(victim)).body.vehicles).toEqual([]);
    expect((await confirm(connectId, attacker)).status).toBe(404);
    expect(await profile(victimsCar.vehicles[0]?.id ?? '')).toBeUndefined();
  });

  it('a confirmed connect claimed by another user is refused without disconnecting its owner', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    const { connectId } = await connectVehicles(userId, { userId: owner.id });
    expect((await confirm(connectId, newUserId())).status).toBe(403);
    expect((await listVehicles(userId)).body.vehicles).toHaveLength(1);
    expect(revocations(owner.id)).toEqual([]);
  });

  it('refuses a malformed connect id or body, and an unknown connect id, without touching anything', async () => {
    expect((await confirm('a#b', 'someone')).status).toBe(400);
    expect((await confirm('00000000-0000-4000-8000-000000000000', 'bad user id')).status).toBe(400);
    expect((await confirm('00000000-0000-4000-8000-000000000000', 'someone')).status).toBe(404);
  });

  it('a connect never confirmed is revoked and deleted by the expiry job once its window has passed', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    const { connectId } = await connectPending(userId, { userId: owner.id });
    // Inside the window (15 minutes by default): left alone.
    await expiryHandler({ time: inMinutes(5) });
    expect(await grantsOf(userId)).toHaveLength(1);
    expect(revocations(owner.id)).toEqual([]);
    expect(await expiryHandler({ time: inMinutes(16) })).toMatchObject({ failed: 0 });
    expect(await grantsOf(userId)).toHaveLength(0);
    expect(revocations(owner.id)).toEqual(owner.vehicles.map((v) => v.id).sort());
    expect((await confirm(connectId, userId)).status).toBe(404);
  });

  it('the expiry job and a late confirm race: the connect is revoked or linked, never linked with a revoked connection', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    const { connectId } = await connectPending(userId, { userId: owner.id });
    // The job has taken it (REVOKING) but Smartcar is down: the confirm that arrives now cannot activate it.
    fake.setDown(true);
    expect(await expiryHandler({ time: inMinutes(16) })).toMatchObject({ failed: 1 });
    fake.setDown(false);
    expect((await confirm(connectId, userId)).status).toBe(410);
    expect((await listVehicles(userId)).body.vehicles).toEqual([]);
    // The next run finishes the revocation.
    expect(await expiryHandler({ time: inMinutes(17) })).toMatchObject({ revoked: 1 });
    expect(fake.connections().filter((c) => c.userId === owner.id)).toEqual([]);
  });

  it('a vehicle of another app user: the new link wins, the previous Smartcar connection is revoked and the emptied grant deleted', async () => {
    const previousUser = newUserId();
    const previousOwner = fake.registerUser({ vehicles: [{}] });
    const vehicleId = previousOwner.vehicles[0]?.id ?? '';
    await connectVehicles(previousUser, { userId: previousOwner.id });
    const [previousGrant] = await grantsOf(previousUser);

    // The car was sold: its new owner has another Smartcar account and connects it for their app user.
    const newUser = newUserId();
    const newOwner = fake.registerUser({ vehicles: [{ id: vehicleId }] });
    const { confirmed } = await connectVehicles(newUser, { userId: newOwner.id });
    expect(confirmed?.status).toBe(200);

    expect((await listVehicles(newUser)).body.vehicles).toMatchObject([{ vehicleId, status: 'CONNECTED' }]);
    expect((await listVehicles(previousUser)).body.vehicles).toEqual([]);
    expect(revocations(previousOwner.id)).toEqual([vehicleId]);
    expect(revocations(newOwner.id)).toEqual([]);
    expect(await grantItem(previousGrant?.grantId as string)).toBeUndefined();
    expect(
      fake
        .connections()
        .filter((c) => c.vehicleId === vehicleId)
        .map((c) => c.userId),
    ).toEqual([newOwner.id]);
  });

  it('the same Smartcar user connecting again without confirming keeps the existing link and its connection', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}] });
    await connectVehicles(userId, { userId: owner.id });
    await connectPending(userId, { userId: owner.id });
    await expiryHandler({ time: inMinutes(16) });
    expect(revocations(owner.id)).toEqual([]);
    expect((await listVehicles(userId)).body.vehicles).toMatchObject([{ status: 'CONNECTED' }]);
  });
});

describe('DELETE /users/{userId}', () => {
  it('revokes every connection, deletes grants and pending connects, and leaves only DISCONNECTED vehicles; idempotent', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    await connectVehicles(userId, { userId: owner.id });
    const other = fake.registerUser({ vehicles: [{}] });
    await connectPending(userId, { userId: other.id });

    const answer = await removeUser(userId);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ userId, vehiclesDisconnected: 2, pendingConnectsRemoved: 1 });
    expect(revocations(owner.id)).toEqual(owner.vehicles.map((v) => v.id).sort());
    expect(revocations(other.id)).toEqual(other.vehicles.map((v) => v.id).sort());
    expect(await grantsOf(userId)).toHaveLength(0);
    const listed = (await listVehicles(userId)).body.vehicles as { status: string }[];
    expect(listed.map((v) => v.status)).toEqual(['DISCONNECTED', 'DISCONNECTED']);

    const calls = fake.calls.length;
    expect(await removeUser(userId)).toMatchObject({
      status: 200,
      body: { userId, vehiclesDisconnected: 0, pendingConnectsRemoved: 0 },
    });
    expect(fake.calls.filter((c) => c.route === 'management').length).toBe(
      fake.calls.slice(0, calls).filter((c) => c.route === 'management').length,
    );
  });

  it('a partial failure answers 5xx, and a retry finishes the job', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    await connectVehicles(userId, { userId: owner.id });
    // The first revocation succeeds, the second fails.
    fake.failNext('management', 500, undefined, { times: 1 });
    const first = await removeUser(userId);
    expect(first.status).toBe(502);
    const retry = await removeUser(userId);
    expect(retry.status).toBe(200);
    expect(fake.connections().filter((c) => c.userId === owner.id)).toEqual([]);
    expect(await grantsOf(userId)).toHaveLength(0);
  });
});

describe('reconciliation', () => {
  it('marks a vehicle whose connection Smartcar no longer has DISCONNECTED, and revokes unknown connections older than a day', async () => {
    const userId = newUserId();
    const owner = fake.registerUser({ vehicles: [{}, {}] });
    await connectVehicles(userId, { userId: owner.id });
    const [removed, kept] = owner.vehicles;
    // The owner removed one vehicle from the app in their Smartcar account.
    const credentials = Buffer.from(`default:${AMT}`).toString('base64');
    await fetch(`${fake.url}/v2.0/management/connections?vehicle_id=${removed?.id}&user_id=${owner.id}`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${credentials}` },
    });
    // A connection no grant knows (a Connect whose storage and revocation both failed).
    const stray = fake.createAuthorizationCode({ redirectUri, vehicles: [{}] });

    const now = await reconcileHandler({ time: new Date().toISOString() });
    expect(now).toMatchObject({ failed: 0, orphansRevoked: 0 });
    expect((now as { unknownConnections: number }).unknownConnections).toBeGreaterThanOrEqual(1);
    expect((await profile(removed?.id ?? ''))?.status).toBe('DISCONNECTED');
    expect((await profile(kept?.id ?? ''))?.status).toBe('CONNECTED');
    expect(logs.join('')).toContain(stray.vehicleIds[0]);

    // A day later the stray connection is revoked (reconcileRevokeOrphans=true in this test's wiring).
    await reconcileHandler({ time: inMinutes(25 * 60) });
    expect(fake.connections().filter((c) => c.userId === stray.userId)).toEqual([]);
    expect(fake.connections().filter((c) => c.vehicleId === kept?.id)).toHaveLength(1);
  });

  it('pages through all of Smartcar connections', async () => {
    // More connections than one page of 100 (created at Smartcar only: unknown to the grants).
    fake.createAuthorizationCode({ redirectUri, vehicles: Array.from({ length: 101 }, () => ({})) });
    const before = fake.calls.length;
    await reconcileHandler({ time: new Date().toISOString() });
    const pages = fake.calls.slice(before).filter((c) => c.route === 'management' && c.method === 'GET');
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.slice(1).every((c) => c.query.cursor !== undefined)).toBe(true);
  });
});
