import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyHandlerV2, SQSEvent, SQSHandler } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../local/config.js';
import type { LocalFunctions } from '../../local/functions.js';
import { startLocalStack, type RunningLocalStack } from '../../local/stack.js';
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

function standIns(): LocalFunctions {
  return {
    http: [
      {
        routeKey: 'POST /webhooks/smartcar',
        name: 'webhook-receiver',
        load: async () => {
          envAtColdStart.receiver = { ...process.env };
          // Module scope, as in the real receiver: clients from the environment only.
          const sqs = new SQSClient({});
          const handler: APIGatewayProxyHandlerV2 = async (event) => {
            const result = await sqs.send(
              new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL, MessageBody: event.body ?? '' }),
            );
            return { statusCode: 202, body: JSON.stringify({ messageId: result.MessageId }) };
          };
          return { handler };
        },
      },
      {
        routeKey: 'GET /vehicles/{vehicleId}',
        name: 'vehicle-read',
        load: async () => {
          envAtColdStart.read = { ...process.env };
          const dynamo = new DynamoDBClient({});
          const handler: APIGatewayProxyHandlerV2 = async (event) => {
            const item = await dynamo.send(
              new GetItemCommand({
                TableName: process.env.VEHICLE_TABLE_NAME,
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
        const handler: SQSHandler = async (event) => {
          processed.push(event);
          for (const record of event.Records) {
            const { vehicleId, make } = JSON.parse(record.body) as { vehicleId: string; make: string };
            await dynamo.send(
              new PutItemCommand({
                TableName: process.env.VEHICLE_TABLE_NAME,
                Item: { pk: { S: `VEHICLE#${vehicleId}` }, sk: { S: 'PROFILE' }, make: { S: make } },
              }),
            );
          }
          return { batchItemFailures: [] };
        };
        return { handler };
      },
    },
  };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'local-stack-test-'));
  const [port, dynamo, sqs, secrets] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  process.env.AWS_PROFILE = 'should-be-removed';
  const config = loadLocalConfig({
    PORT: String(port),
    LOCAL_DYNAMODB_PORT: String(dynamo),
    LOCAL_SQS_PORT: String(sqs),
    LOCAL_SECRETS_PORT: String(secrets),
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
      expect(env?.QUEUE_URL).toBe(stack.queues.queueUrl);
      expect(env?.AWS_ENDPOINT_URL_DYNAMODB).toBe(stack.dynamoDbEndpoint);
      expect(env?.AWS_ENDPOINT_URL_SQS).toBe(stack.sqsEndpoint);
      expect(env?.AWS_ENDPOINT_URL_SECRETS_MANAGER).toBe(stack.secretsManagerEndpoint);
      expect(env?.SMARTCAR_SECRET_ID).toBe(stack.secretId);
      expect(env?.AWS_PROFILE).toBeUndefined();
      expect(env?.SMARTCAR_MANAGEMENT_TOKEN).toBeUndefined();
    }
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

  it('answers unknown routes like API Gateway', async () => {
    const response = await fetch(`${stack.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: 'Not Found' });
  });
});
