import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DecryptCommand, EncryptCommand, KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyHandlerV2, Handler, ScheduledEvent, SQSEvent, SQSHandler } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_VARIABLES, FUNCTIONS } from '../../contracts/index.js';
import { loadLocalConfig } from '../../local/config.js';
import type { LocalFunctions } from '../../local/runtime/functions.js';
import { LOCAL_NAMES, startLocalStack, type RunningLocalStack } from '../../local/stack.js';
import { freePort } from '../support/ports.js';

/**
 * The composition with stand-in handlers: the environment is in place before each handler is imported,
 * clients built like the real handlers build them reach the local stand-ins, and the pieces are wired
 * HTTP → SQS → processor. (test/integration runs the real handlers the same way.)
 */

let stack: RunningLocalStack;
let dataDir: string;
const envAtColdStart: Record<string, NodeJS.ProcessEnv> = {};
const processed: SQSEvent[] = [];
const scheduled: ScheduledEvent[] = [];
let readLoads = 0;

function standIns(): LocalFunctions {
  return {
    http: [
      {
        routes: [{ routeKey: 'POST /webhooks/smartcar', auth: 'none' }],
        name: 'webhook-receiver',
        load: async () => {
          envAtColdStart.receiver = { ...process.env };
          // Module scope, as in the real receiver: clients and configuration from the environment, read
          // at cold start (local mode replaces the variables before the next function's cold start).
          const sqs = new SQSClient({});
          const queueUrl = process.env.QUEUE_URL;
          const handler: APIGatewayProxyHandlerV2 = async (event) => {
            const result = await sqs.send(
              new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: event.body ?? '' }),
            );
            return { statusCode: 202, body: JSON.stringify({ messageId: result.MessageId }) };
          };
          return { handler };
        },
      },
      {
        routes: [
          { routeKey: 'GET /vehicles/{vehicleId}', auth: 'iam' },
          { routeKey: 'GET /vehicles', auth: 'iam' },
        ],
        name: 'vehicle-read',
        load: async () => {
          readLoads += 1;
          envAtColdStart.read = { ...process.env };
          const dynamo = new DynamoDBClient({});
          const tableName = process.env.VEHICLE_TABLE_NAME;
          const handler: APIGatewayProxyHandlerV2 = async (event) => {
            if (event.routeKey === 'GET /vehicles') {
              return { statusCode: 200, body: `list of ${event.queryStringParameters?.userId}` };
            }
            const item = await dynamo.send(
              new GetItemCommand({
                TableName: tableName,
                Key: { pk: { S: `VEHICLE#${event.pathParameters?.vehicleId}` }, sk: { S: 'PROFILE' } },
              }),
            );
            return item.Item ? { statusCode: 200, body: item.Item.make?.S ?? '' } : { statusCode: 404 };
          };
          return { handler };
        },
      },
    ],
    webhookProcessor: {
      name: 'webhook-processor',
      load: async () => {
        envAtColdStart.processor = { ...process.env };
        const dynamo = new DynamoDBClient({});
        const tableName = process.env.VEHICLE_TABLE_NAME;
        const handler: SQSHandler = async (event) => {
          processed.push(event);
          for (const record of event.Records) {
            const { vehicleId, make } = JSON.parse(record.body) as { vehicleId: string; make: string };
            await dynamo.send(
              new PutItemCommand({
                TableName: tableName,
                Item: { pk: { S: `VEHICLE#${vehicleId}` }, sk: { S: 'PROFILE' }, make: { S: make } },
              }),
            );
          }
          return { batchItemFailures: [] };
        };
        return { handler };
      },
    },
    tokenRefresh: {
      name: 'token-refresh',
      ruleName: 'token-refresh-schedule',
      runRouteKey: 'POST /local/jobs/token-refresh',
      load: async () => {
        envAtColdStart.refresh = { ...process.env };
        const handler: Handler<ScheduledEvent, unknown> = async (event) => {
          scheduled.push(event);
          return { due: 0, refreshed: 0, skipped: 0, failed: 0, needsReauth: 0, time: event.time };
        };
        return { handler };
      },
    },
  };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'local-stack-test-'));
  const [port, dynamo, sqs, secrets, kms, smartcar] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  process.env.AWS_PROFILE = 'should-be-removed';
  const config = loadLocalConfig({
    PORT: String(port),
    LOCAL_DYNAMODB_PORT: String(dynamo),
    LOCAL_SQS_PORT: String(sqs),
    LOCAL_SECRETS_PORT: String(secrets),
    LOCAL_KMS_PORT: String(kms),
    LOCAL_FAKE_SMARTCAR: 'true',
    LOCAL_FAKE_SMARTCAR_PORT: String(smartcar),
    LOCAL_DATA_DIR: dataDir,
    SMARTCAR_MANAGEMENT_TOKEN: 'stack-test-amt',
    LOCAL_VISIBILITY_TIMEOUT_SECONDS: '2',
  });
  stack = await startLocalStack(config, standIns(), () => undefined);
});

afterAll(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('local stack', () => {
  it('sets the Lambda environment before each cold start, with each function’s own name', () => {
    for (const [name, env] of [
      ['webhook-receiver', envAtColdStart.receiver],
      ['vehicle-read', envAtColdStart.read],
      ['webhook-processor', envAtColdStart.processor],
    ] as const) {
      expect(env?.AWS_LAMBDA_FUNCTION_NAME).toBe(name);
      expect(env?.POWERTOOLS_SERVICE_NAME).toBe(name);
      expect(env?.AWS_ENDPOINT_URL_DYNAMODB).toBe(stack.dynamoDbEndpoint);
      expect(env?.AWS_ENDPOINT_URL_SQS).toBe(stack.sqsEndpoint);
      expect(env?.AWS_ENDPOINT_URL_SECRETS_MANAGER).toBe(stack.secretsManagerEndpoint);
      expect(env?.AWS_ENDPOINT_URL_KMS).toBe(stack.kmsEndpoint);
      expect(env?.SMARTCAR_API_ORIGIN).toBe(stack.fakeSmartcar?.url);
      expect(env?.SMARTCAR_AUTH_ORIGIN).toBe(stack.fakeSmartcar?.url);
      expect(env?.SMARTCAR_MANAGEMENT_API_ORIGIN).toBe(stack.fakeSmartcar?.url);
      expect(env?.AWS_PROFILE).toBeUndefined();
      expect(env?.SMARTCAR_MANAGEMENT_TOKEN).toBeUndefined();
    }
    expect(envAtColdStart.receiver?.QUEUE_URL).toBe(stack.queues.queueUrl);
    // The functions that rotate tokens get the recovery queue (not the receiver); it exists in the emulator
    // with its own DLQ.
    expect(envAtColdStart.receiver?.TOKEN_RECOVERY_QUEUE_URL).toBeUndefined();
    expect(envAtColdStart.refresh?.TOKEN_RECOVERY_QUEUE_URL).toBe(stack.recoveryQueues.queueUrl);
    expect(stack.recoveryQueues.queueUrl).toContain(LOCAL_NAMES.recoveryQueue);
    expect(stack.recoveryQueues.dlqUrl).toContain(LOCAL_NAMES.recoveryDeadLetterQueue);
    expect(envAtColdStart.receiver?.SMARTCAR_SECRET_ID).toBe(stack.secretId);
    expect(envAtColdStart.read?.VEHICLE_TABLE_NAME).toBe(LOCAL_NAMES.vehicleTable);
    expect(envAtColdStart.processor?.VEHICLE_TABLE_NAME).toBe(LOCAL_NAMES.vehicleTable);
  });

  it('gives each function exactly the variables its contract declares, none of another function’s', () => {
    for (const [id, env] of [
      ['receiver', envAtColdStart.receiver],
      ['vehicleRead', envAtColdStart.read],
      ['processor', envAtColdStart.processor],
      ['tokenRefresh', envAtColdStart.refresh],
    ] as const) {
      const own = FUNCTION_VARIABLES.filter((name) => env?.[name] !== undefined);
      expect(own.sort(), id).toEqual([...FUNCTIONS[id].environment].sort());
    }
  });

  it('serves every route of a function from one cold start, and reports how AWS authorizes each', async () => {
    expect(readLoads).toBe(1);
    const list = await fetch(`${stack.url}/vehicles?userId=alice`);
    expect(await list.text()).toBe('list of alice');
    expect(stack.routes).toEqual([
      { routeKey: 'POST /webhooks/smartcar', auth: 'none', functionName: 'webhook-receiver' },
      { routeKey: 'GET /vehicles/{vehicleId}', auth: 'iam', functionName: 'vehicle-read' },
      { routeKey: 'GET /vehicles', auth: 'iam', functionName: 'vehicle-read' },
    ]);
  });

  it('creates the OAuth tables and the byAppUser index', async () => {
    const client = new DynamoDBClient({});
    for (const table of [LOCAL_NAMES.oauthStateTable, LOCAL_NAMES.tokenTable]) {
      const described = await client.send(new DescribeTableCommand({ TableName: table }));
      expect(described.Table?.TableStatus).toBe('ACTIVE');
    }
    const vehicles = await client.send(new DescribeTableCommand({ TableName: LOCAL_NAMES.vehicleTable }));
    expect(vehicles.Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(['byAppUser']);
    client.destroy();
  });

  it('runs the KMS stand-in with the token key only, its master key in the data directory', async () => {
    expect(stack.tokenKeyId).toMatch(/^arn:aws:kms:us-east-1:000000000000:key\/[0-9a-f-]{36}$/);
    expect(stack.kmsMasterKeyFile).toBe(join(dataDir, 'kms-master.key'));
    expect(existsSync(stack.kmsMasterKeyFile)).toBe(true);
    expect(statSync(stack.kmsMasterKeyFile).mode & 0o077).toBe(0);
    // A client built like the callback's (from the environment alone) reaches it.
    const kms = new KMSClient({});
    const context = { grantId: 'g-1', appUserId: 'alice', tokenType: 'access' };
    const encrypted = await kms.send(
      new EncryptCommand({
        KeyId: stack.tokenKeyId,
        Plaintext: Buffer.from('token'),
        EncryptionContext: context,
      }),
    );
    const decrypted = await kms.send(
      new DecryptCommand({
        KeyId: stack.tokenKeyId,
        CiphertextBlob: encrypted.CiphertextBlob,
        EncryptionContext: context,
      }),
    );
    expect(Buffer.from(decrypted.Plaintext ?? new Uint8Array()).toString()).toBe('token');
    await expect(
      kms.send(
        new EncryptCommand({
          KeyId: 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-555555555555',
          Plaintext: Buffer.from('token'),
        }),
      ),
    ).rejects.toBeInstanceOf(NotFoundException);
    kms.destroy();
  });

  it('runs the fake Smartcar with the local client and the local redirect URI registered', async () => {
    const fake = stack.fakeSmartcar;
    expect(fake).toBeDefined();
    const redirectUri = `${stack.url}/oauth/callback`;
    const authorize = (redirect: string) =>
      `${fake?.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: 'local-client-id',
        redirect_uri: redirect,
        state: 's',
        fake_auto: '1',
      })}`;
    const approved = await fetch(authorize(redirectUri), { redirect: 'manual' });
    expect(approved.status).toBe(302);
    expect(approved.headers.get('location')).toMatch(new RegExp(`^${redirectUri}\\?code=`));
    // Any other redirect URI is "not registered in the Dashboard".
    const other = await fetch(authorize('http://127.0.0.1:1/elsewhere'), { redirect: 'manual' });
    expect(other.status).toBe(400);
  });

  it('serves the local Connect landing pages', async () => {
    expect(stack.pages).toEqual(['GET /local/connected', 'GET /local/connect-failed']);
    const connected = await fetch(`${stack.url}/local/connected?status=connected&vehicles=2`);
    expect(connected.status).toBe(200);
    expect(connected.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await connected.text()).toContain('<h1>Connected 2 vehicles</h1>');
    const failed = await fetch(`${stack.url}/local/connect-failed?reason=invalid_state`);
    expect(await failed.text()).toContain('<h1>Connection failed: invalid_state</h1>');
  });

  it('carries a webhook through HTTP → SQS → processor → DynamoDB → read', async () => {
    const body = JSON.stringify({ vehicleId: 'veh-1', make: 'POLESTAR' });
    const posted = await fetch(`${stack.url}/webhooks/smartcar`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(posted.status).toBe(202);
    const deadline = Date.now() + 15_000;
    let read: Response;
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      read = await fetch(`${stack.url}/vehicles/veh-1`);
    } while (read.status !== 200 && Date.now() < deadline);
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('POLESTAR');
    expect(processed.flatMap((e) => e.Records.map((r) => r.body))).toContain(body);
    expect(processed[0]?.Records[0]?.eventSourceARN).toBe(stack.queues.queueArn);
  });

  it('serves the Smartcar secret built from the SMARTCAR_* variables', async () => {
    const client = new SecretsManagerClient({});
    const secret = await client.send(new GetSecretValueCommand({ SecretId: stack.secretId }));
    expect(JSON.parse(secret.SecretString ?? '{}')).toEqual({
      clientId: 'local-client-id',
      clientSecret: 'local-client-secret',
      managementToken: 'stack-test-amt',
    });
    client.destroy();
  });

  it('runs the token refresh job on demand with a scheduled event at the given time', async () => {
    const run = (body?: string) =>
      fetch(`${stack.url}/local/jobs/token-refresh`, {
        method: 'POST',
        ...(body === undefined ? {} : { body }),
      });
    const response = await run('{"time":"2027-03-01T10:00:00Z"}');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ refreshed: 0, time: '2027-03-01T10:00:00Z' });
    const event = scheduled.at(-1);
    expect(event).toMatchObject({
      source: 'aws.events',
      'detail-type': 'Scheduled Event',
      time: '2027-03-01T10:00:00Z',
    });
    expect(event?.resources[0]).toMatch(/:rule\/token-refresh-schedule$/);
    expect(envAtColdStart.refresh?.AWS_LAMBDA_FUNCTION_NAME).toBe('token-refresh');

    expect((await run()).status).toBe(200);
    expect(Math.abs(Date.parse(scheduled.at(-1)?.time ?? '') - Date.now())).toBeLessThan(60_000);
    expect((await run('{"time":"yesterday-ish"}')).status).toBe(400);
    expect((await run('not json')).status).toBe(400);
  });

  it('answers unknown routes like API Gateway', async () => {
    const response = await fetch(`${stack.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: 'Not Found' });
  });
});
