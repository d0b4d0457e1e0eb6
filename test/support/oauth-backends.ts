import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FakeSmartcar, FakeSmartcarOptions } from '../../local/stand-ins/smartcar/index.js';
import { startKmsFake, type KmsFake } from '../../local/stand-ins/kms.js';
import { startTestDynamoDb } from './dynamodb-local.js';
import { startSdkFakeSmartcar } from './fake-smartcar-sdk.js';
import { freePort } from './ports.js';

/** What the OAuth integration tests run against, on free loopback ports. */
export interface OAuthBackends {
  readonly kms: KmsFake;
  /** The fake Smartcar, with the `smartcar` SDK pointed at it. */
  readonly fake: FakeSmartcar;
  readonly redirectUri: string;
  /** For DynamoDB Local. */
  readonly dynamoClient: DynamoDBClient;
  readonly documentClient: DynamoDBDocumentClient;
  /** For the KMS fake. */
  readonly kmsClient: KMSClient;
  /** Destroys the clients, stops everything and gives the SDK its previous origins back. */
  stop(): Promise<void>;
}

/** Starts DynamoDB Local, the KMS fake and the fake Smartcar (accepting the client in `smartcar`). */
export async function startOAuthBackends(
  smartcar: Omit<FakeSmartcarOptions, 'port'>,
): Promise<OAuthBackends> {
  const [dynamo, kms, sdk] = await Promise.all([
    startTestDynamoDb(),
    startKmsFake({ port: await freePort() }),
    startSdkFakeSmartcar(smartcar, '/oauth/callback'),
  ]);
  const kmsClient = new KMSClient({
    endpoint: kms.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    kms,
    fake: sdk.fake,
    redirectUri: sdk.redirectUri,
    dynamoClient: dynamo.client,
    // Shares the client's middleware stack: middleware added to `dynamoClient` later applies to it too.
    documentClient: dynamo.documentClient,
    kmsClient,
    stop: async () => {
      kmsClient.destroy();
      await Promise.all([sdk.stop(), kms.stop(), dynamo.stop()]);
    },
  };
}
