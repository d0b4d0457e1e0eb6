import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsFake, type KmsFake } from '../../local/stand-ins/kms.js';
import { BY_APP_USER_INDEX, ensureTables } from '../../local/stand-ins/dynamodb-tables.js';
import { dynamoTokenStore } from '../../lambdas/tokens/dynamo-token-store.js';
import {
  GRANT_NEEDS_REAUTH,
  GrantConflictError,
  TokenDecryptionError,
  type GrantClaim,
  type GrantRecord,
} from '../../lambdas/tokens/grant.js';
import { kmsTokenCipher } from '../../lambdas/tokens/kms-token-cipher.js';
import type { TokenStore } from '../../lambdas/tokens/token-store.js';
import { BY_APP_USER_INDEX as LAMBDA_INDEX } from '../../lambdas/vehicles/vehicle-keys.js';
import { useDynamoDbLocal } from '../support/dynamodb-local.js';
import { freePort } from '../support/ports.js';

/**
 * The token store's API for the refresh job (read + decrypt, claim and rotate with a version condition, mark
 * NEEDS_REAUTH, delete when unused) against DynamoDB Local and the KMS fake; and local/stand-ins/dynamodb-tables.ts upgrading an
 * old local vehicle table with the `byAppUser` index.
 */

const TABLES = {
  vehicleTable: 'ts-it-vehicles',
  idempotencyTable: 'ts-it-idempotency',
  oauthStateTable: 'ts-it-states',
  tokenTable: 'ts-it-tokens',
};
const DAY = 24 * 60 * 60 * 1000;

const dynamo = useDynamoDbLocal({ tables: TABLES });
let kms: KmsFake;
let kmsClient: KMSClient;
let store: TokenStore;

beforeAll(async () => {
  kms = await startKmsFake({ port: await freePort() });
  kmsClient = new KMSClient({
    endpoint: kms.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  store = dynamoTokenStore({
    client: dynamo.documentClient,
    tableName: TABLES.tokenTable,
    cipher: kmsTokenCipher(kmsClient, 'alias/ts-it'),
  });
});

afterAll(async () => {
  kmsClient?.destroy();
  await kms?.stop();
});

function pair(label: string, now = Date.now()) {
  return {
    accessToken: `access-${label}-${randomUUID()}`,
    refreshToken: `refresh-${label}-${randomUUID()}`,
    accessExpiresAt: now + 2 * 60 * 60 * 1000,
    refreshExpiresAt: now + 60 * DAY,
  };
}

function claimRequest(grant: GrantRecord) {
  return {
    grantId: grant.grantId,
    version: grant.version,
    owner: `it#${randomUUID()}`,
    now: Date.now(),
    leaseMs: 60_000,
  };
}

/** The refresh path's lease on the grant at the version the caller saw (persistRotation is conditional on it). */
async function claimAt(grant: GrantRecord): Promise<GrantClaim> {
  const claim = await store.claimGrant(claimRequest(grant));
  if (claim === undefined) throw new Error(`grant ${grant.grantId} could not be claimed`);
  return claim;
}

describe('token store', () => {
  it('creates a grant once, reads it back decrypted, and never stores the plaintext', async () => {
    const tokens = pair('create');
    const now = Date.now();
    const grant = await store.createGrant({
      appUserId: 'user-1',
      smartcarUserId: 'sc-user-1',
      scopes: ['read_vehicle_info'],
      tokens,
      now,
    });
    expect(grant).toMatchObject({ version: 1, status: 'ACTIVE', vehicleIds: [], createdAt: now });
    const item = (
      await dynamo.documentClient.send(
        new GetCommand({ TableName: TABLES.tokenTable, Key: { grantId: grant.grantId } }),
      )
    ).Item;
    expect(JSON.stringify(item)).not.toContain(tokens.accessToken);
    expect(JSON.stringify(item)).not.toContain(tokens.refreshToken);
    expect(await store.readGrantTokens(grant.grantId)).toEqual({ grant, tokens });
    expect(await store.readGrantTokens('no-such-grant')).toBeUndefined();

    // attribute_not_exists(grantId): a second create with the same id fails instead of overwriting.
    await expect(
      store.createGrant({
        grantId: grant.grantId,
        appUserId: 'user-2',
        smartcarUserId: 'sc-user-2',
        scopes: [],
        tokens: pair('other'),
        now,
      }),
    ).rejects.toThrow();
    expect((await store.readGrantTokens(grant.grantId))?.tokens).toEqual(tokens);
  });

  it('rotates conditionally on version: the first writer wins, a stale one gets GrantConflictError', async () => {
    const grant = await store.createGrant({
      appUserId: 'user-r',
      smartcarUserId: 'sc-r',
      scopes: [],
      tokens: pair('v1'),
      now: Date.now(),
    });
    const second = pair('v2');
    const claim = await claimAt(grant);
    const rotated = await store.persistRotation(claim, second, Date.now());
    expect(rotated.version).toBe(2);
    expect((await store.readGrantTokens(grant.grantId))?.tokens).toEqual(second);

    // A concurrent refresher still holding version 1 must not overwrite version 2.
    await expect(store.persistRotation(claim, pair('stale'), Date.now())).rejects.toBeInstanceOf(
      GrantConflictError,
    );
    expect((await store.readGrantTokens(grant.grantId))?.tokens).toEqual(second);

    await expect(store.markNeedsReauth(grant, Date.now())).rejects.toBeInstanceOf(GrantConflictError);
    await store.markNeedsReauth(rotated, Date.now());
    expect((await store.getGrant(grant.grantId))?.status).toBe(GRANT_NEEDS_REAUTH);
    // Out of rotation until the owner connects again: a NEEDS_REAUTH grant cannot be claimed.
    expect(await store.claimGrant(claimRequest(rotated))).toBeUndefined();
  });

  it('a rotation of a deleted grant fails instead of re-creating it', async () => {
    const grant = await store.createGrant({
      appUserId: 'user-d',
      smartcarUserId: 'sc-d',
      scopes: [],
      tokens: pair('d'),
      now: Date.now(),
    });
    const claim = await claimAt(grant);
    expect(await store.deleteGrantIfUnused(grant.grantId)).toBe(true);
    await expect(store.persistRotation(claim, pair('late'), Date.now())).rejects.toBeInstanceOf(
      GrantConflictError,
    );
    expect(await store.getGrant(grant.grantId)).toBeUndefined();
    expect(await store.deleteGrantIfUnused(grant.grantId)).toBe(false);
  });

  it('a grant encrypted under another key does not decrypt with this store', async () => {
    const other = dynamoTokenStore({
      client: dynamo.documentClient,
      tableName: TABLES.tokenTable,
      cipher: kmsTokenCipher(kmsClient, 'alias/someone-else'),
    });
    const grant = await other.createGrant({
      appUserId: 'user-k',
      smartcarUserId: 'sc-k',
      scopes: [],
      tokens: pair('k'),
      now: Date.now(),
    });
    await expect(store.readGrantTokens(grant.grantId)).rejects.toBeInstanceOf(TokenDecryptionError);
  });
});

describe('local tables', () => {
  it('adds the byAppUser index to a vehicle table created before it existed', async () => {
    expect(BY_APP_USER_INDEX).toBe(LAMBDA_INDEX);
    const names = {
      vehicleTable: `old-vehicles-${randomUUID()}`,
      idempotencyTable: `old-idempotency-${randomUUID()}`,
    };
    // The vehicle table as local/stand-ins/dynamodb-tables.ts created it before OAuth existed: no GSI.
    await dynamo.client.send(
      new CreateTableCommand({
        TableName: names.vehicleTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    await dynamo.client.send(
      new PutItemCommand({
        TableName: names.vehicleTable,
        Item: {
          pk: { S: 'VEHICLE#v-1' },
          sk: { S: 'PROFILE' },
          vehicleId: { S: 'v-1' },
          appUserId: { S: 'old-user' },
        },
      }),
    );

    // Callers that pass only the two original names keep working, and get the index.
    await ensureTables(dynamo.client, names);
    const table = (await dynamo.client.send(new DescribeTableCommand({ TableName: names.vehicleTable })))
      .Table;
    expect(table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus])).toEqual([
      [BY_APP_USER_INDEX, 'ACTIVE'],
    ]);
    const listed = await dynamo.documentClient.send(
      new QueryCommand({
        TableName: names.vehicleTable,
        IndexName: BY_APP_USER_INDEX,
        KeyConditionExpression: 'appUserId = :u',
        ExpressionAttributeValues: { ':u': 'old-user' },
      }),
    );
    expect(listed.Items?.map((item) => item.vehicleId)).toEqual(['v-1']);

    // Idempotent.
    await ensureTables(dynamo.client, names);
  });

  it('creates the OAuth tables with their keys and TTL', async () => {
    const states = await dynamo.client.send(new DescribeTableCommand({ TableName: TABLES.oauthStateTable }));
    expect(states.Table?.KeySchema).toEqual([{ AttributeName: 'state', KeyType: 'HASH' }]);
    const tokens = await dynamo.client.send(new DescribeTableCommand({ TableName: TABLES.tokenTable }));
    expect(tokens.Table?.KeySchema).toEqual([{ AttributeName: 'grantId', KeyType: 'HASH' }]);
  });
});
