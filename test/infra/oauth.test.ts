import { isDeepStrictEqual } from 'node:util';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { LAMBDA_ENTRIES } from '../../lib/entries.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  type CfnResource,
  dataKeyId,
  each,
  envOf,
  identityStatements,
  keyOf,
  list,
  connectConfirm,
  connectExpiry,
  connectionReconcile,
  oauthCallback,
  oauthConnect,
  oauthStateTable,
  only,
  permissionsOf,
  processor,
  props,
  receiver,
  render,
  resources,
  roleOf,
  secretId,
  stack,
  type Statement,
  stateTable,
  synthesizeStack,
  RECOVERY_CONTEXT_CONDITION,
  TOKEN_CONTEXT_CONDITION,
  tokenKeyId,
  tokenRefresh,
  subscriptionWorker,
  subscriptionQueueId,
  tokenTable,
  vehicleDisconnect,
  vehicleRead,
  viaDynamoDb,
  vehicleCommand,
} from './stack-template.js';

/** OAuth (lib/features/oauth.ts): its state table, Lambdas and grants, and the token table and key it writes. */

beforeAll(synthesizeStack);

describe('OAuth data', () => {
  it('keeps grants in their own table, encrypted with the token key (not the data key), with PITR', () => {
    const [, t] = tokenTable();
    const p = props(t);
    expect(p.KeySchema).toEqual([{ AttributeName: 'grantId', KeyType: 'HASH' }]);
    // The table key plus the keys of the refresh job's indexes (below).
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'grantId', AttributeType: 'S' },
        { AttributeName: 'dueShard', AttributeType: 'S' },
        { AttributeName: 'refreshExpiresAt', AttributeType: 'N' },
        { AttributeName: 'accessExpiresAt', AttributeType: 'N' },
      ]),
    );
    expect(p.AttributeDefinitions).toHaveLength(4);
    expect(p.SSESpecification).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
    expect(tokenKeyId()).not.toBe(dataKeyId());
    expect(resources[tokenKeyId()]?.Type).toBe('AWS::KMS::Key');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    // Grants are deleted explicitly once unused, never expired by TTL.
    expect(p.TimeToLiveSpecification).toBeUndefined();
  });

  it('lets a dev stack delete the token table and key (prod retains them: operations.test.ts)', () => {
    const [, t] = tokenTable();
    expect(t.DeletionPolicy).toBe('Delete');
    expect(props(t).DeletionProtectionEnabled).toBe(false);
    const key = resources[tokenKeyId()] as CfnResource;
    expect(key.DeletionPolicy).toBe('Delete');
    expect(props(key).EnableKeyRotation).toBe(true);
    expect(props(key).PendingWindowInDays).toBe(30);
  });

  it('keeps OAuth states in a TTL table (expiresAt) under the data key; short-lived, so no retention', () => {
    const [, t] = oauthStateTable();
    const p = props(t);
    expect(p.KeySchema).toEqual([{ AttributeName: 'state', KeyType: 'HASH' }]);
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(keyOf(oauthStateTable())).toBe(dataKeyId());
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: false });
    expect(t.DeletionPolicy).toBe('Delete');
  });

  it('indexes linked vehicle profiles by app user (GSI byAppUser: appUserId/vehicleId, all attributes)', () => {
    const p = props(stateTable()[1]);
    expect(p.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byAppUser',
        KeySchema: [
          { AttributeName: 'appUserId', KeyType: 'HASH' },
          { AttributeName: 'vehicleId', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'appUserId', AttributeType: 'S' },
        { AttributeName: 'vehicleId', AttributeType: 'S' },
      ]),
    );
  });
});

describe('OAuth Lambdas', () => {
  const common = () => ({
    POWERTOOLS_SERVICE_NAME: expect.any(String),
    POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
  });
  const api = () => `<${only('AWS::ApiGatewayV2::Api')[0]}>`;
  const callbackUrl = () => `https://${api()}.execute-api.us-east-1.<AWS::URLSuffix>/oauth/callback`;

  it('configure connect with the state table, the secret, the redirect URI, mode and scopes', () => {
    const env = envOf(oauthConnect()[1]);
    expect(env).toEqual({
      ...common(),
      OAUTH_STATE_TABLE_NAME: { Ref: oauthStateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      SMARTCAR_REDIRECT_URI: expect.anything(),
      SMARTCAR_MODE: 'live',
      SMARTCAR_DEFAULT_SCOPES: 'read_vehicle_info',
      REQUIRE_HTTPS_URLS: 'true',
    });
    expect(render(env.SMARTCAR_REDIRECT_URI)).toBe(callbackUrl());
  });

  it('configure the callback with both tables, the token key ARN, the pages and https enforcement', () => {
    const env = envOf(oauthCallback()[1]);
    expect(env).toEqual({
      ...common(),
      POWERTOOLS_SERVICE_NAME: 'oauth-callback',
      OAUTH_STATE_TABLE_NAME: { Ref: oauthStateTable()[0] },
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      TOKEN_KEY_ID: { 'Fn::GetAtt': [tokenKeyId(), 'Arn'] },
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      SMARTCAR_REDIRECT_URI: expect.anything(),
      CONNECT_SUCCESS_URL: expect.stringMatching(/^https:\/\/[^/]+\.invalid\//),
      CONNECT_FAILURE_URL: expect.stringMatching(/^https:\/\/[^/]+\.invalid\//),
      REQUIRE_HTTPS_URLS: 'true',
      // No webhook ids by default: the Dashboard's auto-enrollment subscribes vehicles.
      SMARTCAR_WEBHOOK_IDS: '',
      SUBSCRIPTION_QUEUE_URL: { Ref: subscriptionQueueId() },
      CONNECT_CONFIRMATION: 'required',
      CONNECT_CONFIRM_MINUTES: '15',
    });
    expect(render(env.SMARTCAR_REDIRECT_URI)).toBe(callbackUrl());
  });

  it('configure disconnect with the tables and the secret only (no token key)', () => {
    expect(envOf(vehicleDisconnect()[1])).toEqual({
      ...common(),
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
    });
  });

  it('use the handler files named in docs/design.md by default', () => {
    expect(LAMBDA_ENTRIES.oauthConnect).toMatch(/lambdas\/oauth-connect\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.oauthCallback).toMatch(/lambdas\/oauth-callback\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.vehicleDisconnect).toMatch(/lambdas\/vehicle-disconnect\/handler\.ts$/);
  });

  it('finish before API Gateway’s 30 s integration timeout; the callback gets the most time and memory', () => {
    for (const f of [vehicleRead(), oauthConnect(), oauthCallback(), vehicleDisconnect(), connectConfirm()]) {
      expect(props(f[1]).Timeout as number).toBeLessThan(30);
    }
    expect(props(oauthCallback()[1]).Timeout).toBe(29);
    expect(props(oauthCallback()[1]).MemorySize).toBe(512);
    expect(props(oauthConnect()[1]).Timeout as number).toBeLessThanOrEqual(10);
  });

  it('warn at synth while the success/failure pages are placeholders', () => {
    Annotations.fromStack(stack).hasWarning(
      `/${stack.stackName}`,
      Match.stringLikeRegexp('connectSuccessUrl and connectFailureUrl not set'),
    );
  });
});

describe('least privilege (OAuth)', () => {
  const tableArn = (t: () => [string, CfnResource]) => `<${t()[0]}>`;
  const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

  it('lets connect only put state records and read the secret', () => {
    expect(permissionsOf(oauthConnect())).toEqual(
      new Set([
        `dynamodb:PutItem ${tableArn(oauthStateTable)}`,
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('lets the callback consume states, write grants and profiles, and only encrypt tokens in their context', () => {
    expect(permissionsOf(oauthCallback())).toEqual(
      new Set([
        `dynamodb:UpdateItem ${tableArn(oauthStateTable)}`,
        ...each(
          ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          tableArn(tokenTable),
        ),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        // Direct use: encrypt only (it never reads a stored token), and only under the token context.
        `kms:Encrypt <${tokenKeyId()}> with token context`,
        `secretsmanager:GetSecretValue <${secretId()}>`,
        // Queues the linked vehicles' subscriptions.
        `sqs:SendMessage <${subscriptionQueueId()}>`,
      ]),
    );
  });

  it('lets disconnect update profiles and grants through DynamoDB, with no direct use of the token key', () => {
    expect(permissionsOf(vehicleDisconnect())).toEqual(
      new Set([
        // Query: the vehicle's subscription records, removed before the revocation.
        ...each(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        // A user removal: the user's vehicles (byAppUser) and the pending grants (byRefreshExpiry, PENDING).
        `dynamodb:Query ${tableArn(stateTable)}/index/byAppUser`,
        `dynamodb:Query ${tableArn(tokenTable)}/index/byRefreshExpiry`,
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        `secretsmanager:GetSecretValue <${secretId()}>`,
      ]),
    );
  });

  it('gives the receiver, processor and read Lambda nothing on the token table, the token key or state table', () => {
    for (const f of [receiver(), processor(), vehicleRead()]) {
      const granted = [...permissionsOf(f)].join('\n');
      for (const id of [tokenTable()[0], tokenKeyId(), oauthStateTable()[0]])
        expect(granted).not.toContain(id);
    }
  });

  it('grants the token key to the callback, disconnect and refresh roles only, and crypto outside DynamoDB to the callback (encrypt) and the refresh job (encrypt, decrypt) only', () => {
    const onTokenKey = identityStatements().filter(({ statement }) =>
      list(statement.Resource).some((r) => render(r).includes(`<${tokenKeyId()}>`)),
    );
    expect(new Set(onTokenKey.flatMap(({ roles }) => roles))).toEqual(
      new Set([
        roleOf(oauthCallback()),
        roleOf(vehicleDisconnect()),
        roleOf(tokenRefresh()),
        roleOf(vehicleCommand()),
        roleOf(subscriptionWorker()),
        roleOf(connectConfirm()),
        roleOf(connectExpiry()),
        roleOf(connectionReconcile()),
      ]),
    );
    const direct = onTokenKey
      .filter(({ statement }) => !isDeepStrictEqual(statement.Condition, viaDynamoDb()))
      .map(({ roles, statement }) => ({
        roles,
        effect: statement.Effect,
        actions: list(statement.Action).sort(),
        condition: statement.Condition,
      }));
    expect(direct).toEqual(
      expect.arrayContaining([
        {
          roles: [roleOf(oauthCallback())],
          effect: 'Allow',
          actions: ['kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        {
          roles: [roleOf(tokenRefresh())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        // getAccessToken: the vehicle's access token for `vehicle.subscribe`, and a rotation when it expires.
        {
          roles: [roleOf(subscriptionWorker())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        // Revokes a pending connect whose vehicles are unknown with its own access token.
        {
          roles: [roleOf(connectExpiry())],
          effect: 'Allow',
          actions: ['kms:Decrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        // The data keys that seal a parked rotation: only with tokenType `recovery`.
        {
          roles: [roleOf(tokenRefresh())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          condition: RECOVERY_CONTEXT_CONDITION,
        },
        // getAccessToken: decrypts the access token, refreshes (and re-encrypts) an expiring pair.
        {
          roles: [roleOf(vehicleCommand())],
          effect: 'Allow',
          actions: ['kms:Decrypt', 'kms:Encrypt'],
          condition: TOKEN_CONTEXT_CONDITION,
        },
        // Their on-demand refresh seals a pair it parks; only the refresh job decrypts (applies) one.
        ...[subscriptionWorker, vehicleCommand].map((fn) => ({
          roles: [roleOf(fn())],
          effect: 'Allow',
          actions: ['kms:GenerateDataKey'],
          condition: RECOVERY_CONTEXT_CONDITION,
        })),
      ]),
    );
    expect(direct).toHaveLength(8);
    // And nothing reaches any key through a wildcard resource.
    for (const { statement } of identityStatements()) {
      if (actionsOf([statement]).some((a) => a.startsWith('kms:'))) {
        expect(list(statement.Resource)).not.toContain('*');
      }
    }
  });

  it('denies direct crypto with the token key in its key policy to everyone but the callback and refresh roles', () => {
    const policy = props(resources[tokenKeyId()] as CfnResource).KeyPolicy as { Statement: Statement[] };
    const denies = policy.Statement.filter((s) => s.Effect === 'Deny');
    expect(denies).toEqual([
      expect.objectContaining({
        Principal: { AWS: '*' },
        Action: expect.arrayContaining([
          'kms:Decrypt',
          'kms:Encrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
        ]),
        Resource: '*',
        Condition: {
          // Not for use through DynamoDB (the table's encryption at rest), ...
          StringNotEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` },
          // ... not for the callback and refresh roles (the two that grantTokenCrypto names), ...
          ArnNotEquals: {
            'aws:PrincipalArn': [
              { 'Fn::GetAtt': [roleOf(oauthCallback()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(tokenRefresh()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(vehicleCommand()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(connectExpiry()), 'Arn'] },
              { 'Fn::GetAtt': [roleOf(subscriptionWorker()), 'Arn'] },
            ],
          },
          // ... and not for AWS services (DynamoDB's grant for background work).
          Bool: { 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    ]);
    // The account keeps administering the key: the only Allow is the default delegation to IAM.
    const allows = policy.Statement.filter((s) => s.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(render((allows[0]?.Principal as { AWS: unknown }).AWS)).toMatch(
      /^arn:aws:iam::<AWS::AccountId>:root$/,
    );
  });
});
