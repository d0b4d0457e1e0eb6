import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../contracts/index.js';
import {
  actionsOf,
  auditTable,
  type CfnResource,
  dataKeyId,
  each,
  envOf,
  expectIntegrationTo,
  list,
  ofType,
  only,
  permissionsOf,
  props,
  recoveryQueues,
  refOf,
  render,
  secretId,
  stack,
  stateTable,
  statementsOf,
  synthesizeStack,
  tokenKeyId,
  tokenTable,
  vehicleCommand,
} from './stack-template.js';

/** lib/features/vehicle-commands.ts: the command Lambda, its routes, the audit table and the alarms. */

beforeAll(synthesizeStack);

const tableArn = (t: () => [string, CfnResource]) => `<${t()[0]}>`;
const tableKeyActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

describe('vehicle commands', () => {
  it('gives the command Lambda exactly what getAccessToken, the checks and the audit use', () => {
    expect(permissionsOf(vehicleCommand())).toEqual(
      new Set([
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem'], tableArn(stateTable)),
        ...each(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], tableArn(tokenTable)),
        ...each(
          ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          tableArn(auditTable),
        ),
        ...each(tableKeyActions, `<${dataKeyId()}>`, ' via DynamoDB'),
        ...each(tableKeyActions, `<${tokenKeyId()}>`, ' via DynamoDB'),
        // Only under the token encryption context: a ciphertext moved to another grant does not decrypt.
        `kms:Decrypt <${tokenKeyId()}> with token context`,
        `kms:Encrypt <${tokenKeyId()}> with token context`,
        `secretsmanager:GetSecretValue <${secretId()}>`,
        // An on-demand refresh whose pair cannot be stored seals it (no Decrypt) and parks it (no receive).
        `kms:GenerateDataKey <${tokenKeyId()}> with recovery context`,
        `sqs:SendMessage <${recoveryQueues().main[0]}>`,
      ]),
    );
  });

  it('never lets the command Lambda delete, scan or batch-write the audit', () => {
    const onAudit = statementsOf(vehicleCommand()).filter((s) =>
      list(s.Resource).some((r) => render(r).startsWith(`<${auditTable()[0]}>`)),
    );
    expect(actionsOf(onAudit)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/DeleteItem|Scan|BatchWrite/)]),
    );
  });

  it('integrates both command routes, IAM-authorized, with the command Lambda', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').filter(([, r]) =>
      String(props(r).RouteKey).endsWith('/vehicles/{vehicleId}/commands'),
    );
    expect(routes.map(([, r]) => props(r).RouteKey).sort()).toEqual([
      'GET /vehicles/{vehicleId}/commands',
      'POST /vehicles/{vehicleId}/commands',
    ]);
    for (const [, route] of routes) {
      expect(props(route).AuthorizationType).toBe('AWS_IAM');
      expectIntegrationTo(route, vehicleCommand()[0]);
    }
  });

  it('keeps the command Lambda under API Gateway’s 30 s and gives it its environment', () => {
    const [, f] = vehicleCommand();
    expect(props(f).Timeout).toBe(FUNCTIONS.vehicleCommand.timeoutSeconds);
    expect(props(f).Timeout as number).toBeLessThan(30);
    expect(envOf(f)).toMatchObject({
      COMMAND_AUDIT_TABLE_NAME: { Ref: auditTable()[0] },
      COMMAND_AUDIT_DAYS: '90',
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      TOKEN_TABLE_NAME: { Ref: tokenTable()[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
    });
  });

  it('keeps the audit table with a TTL, encrypted with the data key and point-in-time recoverable (retained in prod: operations.test.ts)', () => {
    const [, t] = auditTable();
    expect(props(t).KeySchema).toEqual([
      { AttributeName: 'vehicleId', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(props(t).TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    // This stack is stage dev, which may destroy its data; prod retains it (test/infra/operations.test.ts).
    expect(t.DeletionPolicy).toBe('Delete');
    expect(props(t).PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(refOf((props(t).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId)).toBe(
      dataKeyId(),
    );
  });

  it('pages on-call on command Lambda errors and on a spike of UNKNOWN outcomes', () => {
    const [topicId] = only('AWS::SNS::Topic');
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => props(a));
    const unknown = alarms.find((a) => a.MetricName === 'CommandOutcomeUnknown');
    expect(unknown).toMatchObject({
      Namespace: stack.metricsNamespace,
      Dimensions: [{ Name: 'service', Value: 'vehicle-command' }],
    });
    const errors = alarms.find(
      (a) =>
        a.MetricName === 'Errors' &&
        list(a.Dimensions as { Value: unknown }[]).some((d) => refOf(d.Value) === vehicleCommand()[0]),
    );
    expect(errors).toBeDefined();
    for (const alarm of [unknown, errors]) {
      expect(list(alarm?.AlarmActions).map(refOf)).toEqual([topicId]);
    }
  });
});
