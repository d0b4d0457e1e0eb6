import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/stand-ins/dynamodb-local.js';
import { ensureTables, type TableNames } from '../../local/stand-ins/dynamodb-tables.js';
import { freePort } from './ports.js';

export interface TestDynamoDbOptions {
  /**
   * Tables to create, from contracts/ exactly as local mode creates them.
   * @default none
   */
  readonly tables?: TableNames;
  /**
   * Drop `undefined` attributes when marshalling, as the processor's and the command Lambda's document clients do;
   * the others' (and so this default) refuse them.
   * @default false
   */
  readonly removeUndefinedValues?: boolean;
}

/** A DynamoDB Local of a test's own, with clients on it. */
export interface TestDynamoDb {
  readonly endpoint: string;
  /** For set-up and checks. */
  readonly client: DynamoDBClient;
  /** On `client` (so it shares its middleware stack). */
  readonly documentClient: DynamoDBDocumentClient;
  /** Another client of its own, as a fresh Lambda execution environment has; destroyed by `stop`. */
  newClient(): DynamoDBClient;
  /** Destroys every client and stops DynamoDB Local. */
  stop(): Promise<void>;
}

/** The stand-ins accept any credentials; explicit ones keep the SDK from looking for real ones. */
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Starts DynamoDB Local (in memory) on a free loopback port and creates `options.tables`. */
export async function startTestDynamoDb(options: TestDynamoDbOptions = {}): Promise<TestDynamoDb> {
  const dynamo: DynamoDbLocal = await startDynamoDbLocal({ port: await freePort() });
  const clients: DynamoDBClient[] = [];
  const newClient = () => {
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: CREDENTIALS,
    });
    clients.push(client);
    return client;
  };
  const client = newClient();
  if (options.tables) await ensureTables(client, options.tables);
  return {
    endpoint: dynamo.endpoint,
    client,
    documentClient: DynamoDBDocumentClient.from(
      client,
      options.removeUndefinedValues ? { marshallOptions: { removeUndefinedValues: true } } : undefined,
    ),
    newClient,
    stop: async () => {
      for (const each of clients) each.destroy();
      await dynamo.stop();
    },
  };
}

/**
 * One DynamoDB Local for the whole test file: started (with `options.tables`) before its tests and stopped after
 * them. The fields of what it returns can be read in hooks and tests, not at module scope.
 */
export function useDynamoDbLocal(options: TestDynamoDbOptions = {}): TestDynamoDb {
  let started: TestDynamoDb | undefined;
  beforeAll(async () => {
    started = await startTestDynamoDb(options);
  });
  afterAll(async () => {
    await started?.stop();
  });
  const get = (): TestDynamoDb => {
    if (started === undefined)
      throw new Error('DynamoDB Local is started in beforeAll: read it in a hook or a test');
    return started;
  };
  return {
    get endpoint() {
      return get().endpoint;
    },
    get client() {
      return get().client;
    },
    get documentClient() {
      return get().documentClient;
    },
    newClient: () => get().newClient(),
    stop: () => get().stop(),
  };
}
