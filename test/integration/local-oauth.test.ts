import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_NAMES } from '../../local/stack.js';
import { startLocalStack, type LocalStack } from '../support/local-stack.js';

/**
 * The OAuth feature through local mode with `--fake-smartcar`, as a developer tries it: `local/start.ts` in a
 * child process, the real handlers behind the local HTTP API, the real `smartcar` SDK talking to the fake
 * Smartcar, tokens encrypted by the KMS stand-in and stored in DynamoDB Local. The browser is played by
 * `fetch` with `redirect: 'manual'`, one hop at a time.
 */

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let stack: LocalStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'local-oauth-'));
  stack = await startLocalStack({ LOCAL_FAKE_SMARTCAR: 'true' }, { dataDir });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface VehicleSummary {
  vehicleId: string;
  make: string | null;
  model: string | null;
  year: number | null;
  status: string;
}

async function startConnect(userId: string): Promise<string> {
  const response = await fetch(`${stack.baseUrl}/connect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { url: string; state: string; expiresAt: string };
  expect(body.url.startsWith(`${stack.fakeSmartcarUrl}/oauth/authorize?`)).toBe(true);
  return body.url;
}

/** One browser hop: the response, and where a redirect points (absolute). */
async function hop(url: string): Promise<{ response: Response; location: string | undefined }> {
  const response = await fetch(url, { redirect: 'manual' });
  const header = response.headers.get('location');
  return { response, location: header === null ? undefined : new URL(header, url).toString() };
}

/** The `href` of an element with this id on an HTML page, unescaped and absolute. */
function linkOf(html: string, id: string, base: string): string {
  const match = new RegExp(`id="${id}" href="([^"]+)"`).exec(html);
  if (!match?.[1]) throw new Error(`no #${id} link on the page:\n${html}`);
  const href = match[1].replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
  return new URL(href, base).toString();
}

/** Connect page → click `button` → the callback URL Smartcar sends the browser to. */
async function throughConnectPage(connectUrl: string, button: 'allow' | 'deny'): Promise<string> {
  const page = await hop(connectUrl);
  expect(page.response.status).toBe(200);
  expect(page.response.headers.get('content-type')).toMatch(/^text\/html/);
  const decision = await hop(linkOf(await page.response.text(), button, connectUrl));
  expect(decision.response.status).toBe(302);
  expect(decision.location?.startsWith(`${stack.baseUrl}/oauth/callback?`)).toBe(true);
  return decision.location ?? '';
}

/** The callback's answer: always a 302 to the success or failure page. */
async function callback(url: string): Promise<URL> {
  const { response, location } = await hop(url);
  expect(response.status).toBe(302);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  return new URL(location ?? '');
}

async function pageTitle(url: URL): Promise<string> {
  const { response } = await hop(url.toString());
  expect(response.status).toBe(200);
  return /<h1>([^<]*)<\/h1>/.exec(await response.text())?.[1] ?? '';
}

async function listVehicles(userId: string): Promise<VehicleSummary[]> {
  const response = await fetch(`${stack.baseUrl}/vehicles?userId=${encodeURIComponent(userId)}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { userId: string; vehicles: VehicleSummary[]; nextToken: unknown };
  expect(body.userId).toBe(userId);
  return body.vehicles;
}

const byMake = (vehicles: VehicleSummary[]) =>
  [...vehicles].sort((a, b) => (a.make ?? '').localeCompare(b.make ?? ''));

describe('local mode with --fake-smartcar: OAuth end to end', () => {
  let aliceCallback: string;
  let aliceVehicles: VehicleSummary[];

  it('connects through the fake Connect page and lands on the local success page, which shows the connectId and the confirm command', async () => {
    aliceCallback = await throughConnectPage(await startConnect('alice'), 'allow');
    const landing = await callback(aliceCallback);
    expect(`${landing.origin}${landing.pathname}`).toBe(`${stack.baseUrl}/local/connected`);
    expect(landing.searchParams.get('status')).toBe('pending');
    expect(landing.searchParams.get('vehicles')).toBe('2');
    const connectId = landing.searchParams.get('connectId') ?? '';
    expect(connectId).toMatch(UUID);
    expect(await pageTitle(landing)).toBe('2 vehicles waiting for confirmation');
    const html = await (await hop(landing.toString())).response.text();
    expect(html).toContain(`<code id="connectId">${connectId}</code>`);
    expect(html).toContain(`curl -s -X POST ${stack.baseUrl}/connect/${connectId}/confirm`);
    // Nothing is listed before the confirm.
    expect(await listVehicles('alice')).toEqual([]);

    const confirmed = await fetch(`${stack.baseUrl}/connect/${connectId}/confirm`, {
      method: 'POST',
      body: JSON.stringify({ userId: 'alice' }),
    });
    expect(confirmed.status).toBe(200);
    expect(((await confirmed.json()) as { vehicles: unknown[] }).vehicles).toHaveLength(2);
  });

  it("lists the user's vehicles as CONNECTED once confirmed (make, model and year arrive with the first webhook)", async () => {
    aliceVehicles = await listVehicles('alice');
    const connected = {
      vehicleId: expect.stringMatching(UUID),
      make: null,
      model: null,
      year: null,
      status: 'CONNECTED',
      actionRequired: null,
    };
    expect(aliceVehicles).toEqual([connected, connected]);
  });

  it('shows the app user on the single-vehicle read', async () => {
    const vehicleId = aliceVehicles[0]?.vehicleId ?? '';
    const response = await fetch(`${stack.baseUrl}/vehicles/${vehicleId}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      vehicleId,
      userId: 'alice',
      appUserId: 'alice',
      smartcarUserId: expect.stringMatching(UUID),
      status: 'CONNECTED',
    });
  });

  it('refuses a replayed callback (the state is single-use) and changes nothing', async () => {
    const landing = await callback(aliceCallback);
    expect(`${landing.origin}${landing.pathname}`).toBe(`${stack.baseUrl}/local/connect-failed`);
    expect(landing.searchParams.get('reason')).toBe('invalid_state');
    expect(await pageTitle(landing)).toBe('Connection failed: invalid_state');
    expect(byMake(await listVehicles('alice'))).toEqual(byMake(aliceVehicles));
  });

  it('disconnects one vehicle (Smartcar management API, then the profile)', async () => {
    const [first, second] = aliceVehicles;
    const deleted = await fetch(`${stack.baseUrl}/vehicles/${first?.vehicleId}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ vehicleId: first?.vehicleId, status: 'DISCONNECTED' });

    const statuses = Object.fromEntries((await listVehicles('alice')).map((v) => [v.vehicleId, v.status]));
    expect(statuses).toEqual({
      [first?.vehicleId ?? '']: 'DISCONNECTED',
      [second?.vehicleId ?? '']: 'CONNECTED',
    });

    // Idempotent; an unknown vehicle is a 404.
    const again = await fetch(`${stack.baseUrl}/vehicles/${first?.vehicleId}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    const unknown = await fetch(`${stack.baseUrl}/vehicles/00000000-0000-4000-8000-000000000000`, {
      method: 'DELETE',
    });
    expect(unknown.status).toBe(404);
  });

  it('sends a denial on the Connect page to the failure page with reason=access_denied', async () => {
    const landing = await callback(await throughConnectPage(await startConnect('bob'), 'deny'));
    expect(`${landing.origin}${landing.pathname}`).toBe(`${stack.baseUrl}/local/connect-failed`);
    expect(landing.searchParams.get('reason')).toBe('access_denied');
    expect(await pageTitle(landing)).toBe('Connection failed: access_denied');
    expect(await listVehicles('bob')).toEqual([]);
  });

  it("supports the banner's browser-less shortcuts: fake_auto=1 and fake_error=access_denied", async () => {
    const approved = await hop(`${await startConnect('carol')}&fake_auto=1`);
    expect(approved.response.status).toBe(302);
    const connected = await callback(approved.location ?? '');
    expect(connected.searchParams.get('vehicles')).toBe('2');

    const refused = await hop(`${await startConnect('dave')}&fake_error=access_denied`);
    const failed = await callback(refused.location ?? '');
    expect(failed.searchParams.get('reason')).toBe('access_denied');
  });

  it('keeps the vehicles and the encrypted tokens across a restart (the KMS master key is in the data dir)', async () => {
    await stack.stop();
    stack = await startLocalStack({ LOCAL_FAKE_SMARTCAR: 'true' }, { dataDir });

    const [first, second] = aliceVehicles;
    const statuses = Object.fromEntries((await listVehicles('alice')).map((v) => [v.vehicleId, v.status]));
    expect(statuses).toEqual({
      [first?.vehicleId ?? '']: 'DISCONNECTED',
      [second?.vehicleId ?? '']: 'CONNECTED',
    });

    const dynamo = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials: CREDENTIALS }),
    );
    const kms = new KMSClient({ endpoint: stack.kmsEndpoint, region: 'us-east-1', credentials: CREDENTIALS });
    try {
      const { Items: grants = [] } = await dynamo.send(
        new ScanCommand({ TableName: LOCAL_NAMES.tokenTable }),
      );
      // alice's grant (one vehicle left) and carol's; bob and dave never got one.
      expect(grants.map((g) => g.appUserId as string).sort()).toEqual(['alice', 'carol']);
      for (const grant of grants) {
        for (const tokenType of ['access', 'refresh'] as const) {
          const ciphertext = grant[`${tokenType}Token`] as string;
          // Stored as ciphertext only: the fake's tokens are UUIDs.
          expect(ciphertext).not.toMatch(UUID);
          const decrypted = await kms.send(
            new DecryptCommand({
              KeyId: grant.keyId as string,
              CiphertextBlob: Buffer.from(ciphertext, 'base64'),
              EncryptionContext: {
                grantId: grant.grantId as string,
                appUserId: grant.appUserId as string,
                tokenType,
              },
            }),
          );
          expect(Buffer.from(decrypted.Plaintext ?? new Uint8Array()).toString()).toMatch(UUID);
        }
      }
    } finally {
      dynamo.destroy();
      kms.destroy();
    }

    // The fake Smartcar forgot its connections (in memory); disconnecting still works (an empty deletion is 2xx).
    const deleted = await fetch(`${stack.baseUrl}/vehicles/${second?.vehicleId}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
  }, 120_000);
});
