import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { createSmartcarApp } from '../../lib/app.js';
import type { SmartcarStack } from '../../lib/smartcar-stack.js';
import { standInEntries } from './stand-in-entries.js';

// ---------------------------------------------------------------------------------------------------------
// One app for the whole file, built like bin/app.ts does (cdk.json's feature flags, cdk-nag registered),
// but with bundling skipped: esbuild never runs, so the entry only has to exist (NodejsFunction checks
// that). The test file stands in for the handlers, which keeps these tests independent of the Lambda code.
// ---------------------------------------------------------------------------------------------------------

export const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
export const THIS_FILE = fileURLToPath(import.meta.url);

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

export let app: App;
export let stack: SmartcarStack;
export let template: Template;
export let resources: Record<string, CfnResource>;

/** Synthesizes the app into the bindings above (call it from `beforeAll`). */
export function synthesizeStack(): void {
  ({ app, stack } = createSmartcarApp({
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } },
    env: {},
    entries: standInEntries(THIS_FILE),
  }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, CfnResource>;
}

// --- helpers -----------------------------------------------------------------------------------------------

export const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The logical id behind `{Ref: id}` or `{Fn::GetAtt: [id, attr]}`. */
export function refOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ('Ref' in value && typeof value.Ref === 'string') return value.Ref;
  if ('Fn::GetAtt' in value && Array.isArray(value['Fn::GetAtt'])) return String(value['Fn::GetAtt'][0]);
  return undefined;
}

export function ofType(type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

export function only(
  type: string,
  predicate: (r: CfnResource) => boolean = () => true,
): [string, CfnResource] {
  const matches = ofType(type).filter(([, r]) => predicate(r));
  expect(matches, `exactly one ${type} matching`).toHaveLength(1);
  return matches[0] as [string, CfnResource];
}

export function props(resource: CfnResource): Record<string, unknown> {
  return resource.Properties ?? {};
}

export const envOf = (fn: CfnResource): Record<string, unknown> =>
  (props(fn).Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};

/** The Lambda function whose description starts with `prefix`. */
export function fn(prefix: string): [string, CfnResource] {
  return only('AWS::Lambda::Function', (r) => String(props(r).Description).startsWith(prefix));
}
export const receiver = () => fn('Smartcar webhook receiver');
export const processor = () => fn('Smartcar webhook processor');
export const vehicleRead = () => fn('Vehicle state read API');
export const oauthConnect = () => fn('OAuth connect');
export const oauthCallback = () => fn('OAuth callback');
export const vehicleDisconnect = () => fn('Vehicle disconnect API');
export const tokenRefresh = () => fn('Token refresh job');
export const vehicleCommand = () => fn('Vehicle commands');
export const subscriptionWorker = () => fn('Webhook subscription worker');
export const vehicleSubscriptions = () => fn('Re-runs the webhook subscriptions');
export const connectConfirm = () => fn('Connect confirmation API');
export const connectExpiry = () => fn('Connect expiry job');
export const connectionReconcile = () => fn('Reconciliation job');
export const allFunctions = () => ofType('AWS::Lambda::Function');
export const roleOf = ([, f]: [string, CfnResource]) => refOf(props(f).Role) as string;

/** X-Ray active tracing's write-only statement (its actions support no resource but "*"): checked on its own. */
export function isTracingStatement(statement: Statement): boolean {
  return (
    statement.Effect === 'Allow' &&
    statement.Resource === '*' &&
    isDeepStrictEqual([...list(statement.Action)].sort(), [
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ])
  );
}

/**
 * Every identity-policy statement attached to the function's role (inline or AWS::IAM::Policy), except the
 * tracing statement (isTracingStatement).
 */
export function statementsOf([, lambdaFn]: [string, CfnResource]): Statement[] {
  const roleId = refOf(props(lambdaFn).Role);
  expect(roleId).toBeDefined();
  const role = resources[roleId as string] as CfnResource;
  expect(props(role).ManagedPolicyArns, 'no managed policies').toBeUndefined();
  const inline = list(props(role).Policies as { PolicyDocument: { Statement: Statement[] } }[]);
  const attached = ofType('AWS::IAM::Policy')
    .filter(([, p]) => list(props(p).Roles).some((r) => refOf(r) === roleId))
    .map(([, p]) => props(p).PolicyDocument as { Statement: Statement[] });
  return [...inline.map((p) => p.PolicyDocument), ...attached]
    .flatMap((doc) => doc.Statement)
    .filter((statement) => !isTracingStatement(statement));
}

/** Every statement of every identity policy in the stack, with the roles it is attached to. */
export function identityStatements(): { roles: string[]; statement: Statement }[] {
  const attached = ofType('AWS::IAM::Policy').flatMap(([, p]) =>
    (props(p).PolicyDocument as { Statement: Statement[] }).Statement.map((statement) => ({
      roles: list(props(p).Roles).map((r) => refOf(r) as string),
      statement,
    })),
  );
  const inline = ofType('AWS::IAM::Role').flatMap(([roleId, r]) =>
    list(props(r).Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) =>
      p.PolicyDocument.Statement.map((statement) => ({ roles: [roleId], statement })),
    ),
  );
  return [...attached, ...inline].filter(({ statement }) => !isTracingStatement(statement));
}

/** A policy value as text: `<LogicalId>` for Ref/GetAtt, Fn::Join flattened. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const ref = refOf(value);
  if (ref !== undefined) return `<${ref}>`;
  if (typeof value === 'object' && value !== null && 'Fn::Join' in value) {
    const [separator, parts] = value['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  return JSON.stringify(value);
}

/** The only condition a statement on the data or token key may carry for table access. */
export const viaDynamoDb = () => ({
  StringEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` },
});
/** docs/design.md: token ciphertexts are bound to exactly {grantId, appUserId, tokenType: access|refresh}. */
export const TOKEN_CONTEXT_CONDITION = {
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['grantId', 'appUserId', 'tokenType'] },
  Null: {
    'kms:EncryptionContext:grantId': 'false',
    'kms:EncryptionContext:appUserId': 'false',
    'kms:EncryptionContext:tokenType': 'false',
  },
  StringEquals: { 'kms:EncryptionContext:tokenType': ['access', 'refresh'] },
};

/** The token context with tokenType `recovery` only: a parked rotation's data key (TokenKey.grantRecoveryCrypto). */
export const RECOVERY_CONTEXT_CONDITION = {
  ...TOKEN_CONTEXT_CONDITION,
  StringEquals: { 'kms:EncryptionContext:tokenType': ['recovery'] },
};

export function conditionLabel(statement: Statement): string {
  if (statement.Condition === undefined) return '';
  if (isDeepStrictEqual(statement.Condition, viaDynamoDb())) return ' via DynamoDB';
  if (isDeepStrictEqual(statement.Condition, TOKEN_CONTEXT_CONDITION)) return ' with token context';
  if (isDeepStrictEqual(statement.Condition, RECOVERY_CONTEXT_CONDITION)) return ' with recovery context';
  return ` if ${JSON.stringify(statement.Condition)}`;
}

/**
 * What a function's role may do, one "action resource [condition]" line per pair, without its log writes
 * (checked separately): comparing these sets states the whole grant, whatever way CDK merged statements.
 */
export function permissionsOf(f: [string, CfnResource]): Set<string> {
  const lines = statementsOf(f).flatMap((s) => {
    expect(s.Effect).toBe('Allow');
    return list(s.Action)
      .filter((a) => !a.startsWith('logs:'))
      .flatMap((a) => list(s.Resource).map((r) => `${a} ${render(r)}${conditionLabel(s)}`));
  });
  return new Set(lines);
}

/** `actions` on `resource`, one line each (see permissionsOf). */
export const each = (actions: string[], resource: string, label = '') =>
  actions.map((a) => `${a} ${resource}${label}`);

export const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => list(s.Action));
export const resourceIds = (s: Statement): (string | undefined)[] => list(s.Resource).map(refOf);
export const allowsAny = (statements: Statement[], prefix: string) =>
  actionsOf(statements.filter((s) => s.Effect === 'Allow')).some((a) => a.startsWith(prefix));

/** A queue with a redrive policy and its DLQ (the one that policy names); `inRecovery`: the token recovery queue. */
function queuePair(inRecovery: boolean) {
  const recoveryIds = new Set(
    ofType('AWS::SQS::Queue')
      .filter(([id]) => id.includes('TokenRecovery'))
      .map(([id]) => id),
  );
  const isRecovery = (q: CfnResource) => [...recoveryIds].some((id) => resources[id] === q);
  const subscriptionIds = ofType('AWS::SQS::Queue')
    .filter(([id]) => id.startsWith('WebhookSubscriptions'))
    .map(([, q]) => q);
  const main = only(
    'AWS::SQS::Queue',
    (q) =>
      props(q).RedrivePolicy !== undefined && isRecovery(q) === inRecovery && !subscriptionIds.includes(q),
  );
  const dlqId = refOf((props(main[1]).RedrivePolicy as { deadLetterTargetArn: unknown }).deadLetterTargetArn);
  const dlq = only('AWS::SQS::Queue', (q) => q === resources[dlqId as string]);
  return { main, dlq };
}
/** The subscription queue (the WebhookSubscriptions feature's queue with a redrive policy). */
export const subscriptionQueueId = (): string => {
  const found = ofType('AWS::SQS::Queue').filter(
    ([id, q]) => id.startsWith('WebhookSubscriptions') && props(q).RedrivePolicy !== undefined,
  );
  expect(found, 'exactly one subscription queue').toHaveLength(1);
  return (found[0] as [string, CfnResource])[0];
};
/** The webhook queue and its DLQ (the one its redrive policy names). */
export const queues = () => queuePair(false);
/** The token refresh's recovery queue and its DLQ. */
export const recoveryQueues = () => queuePair(true);
/** The token refresh's schedule rule: the one whose target is the refresh function. */
export const scheduleRule = () =>
  only('AWS::Events::Rule', (r) =>
    list(props(r).Targets as { Arn: unknown }[]).some((t) => refOf(t.Arn) === tokenRefresh()[0]),
  );
/** The token refresh's DLQ: the one its schedule's target names. */
export const refreshDlq = () => {
  const [target] = props(scheduleRule()[1]).Targets as { DeadLetterConfig: { Arn: unknown } }[];
  const id = refOf(target?.DeadLetterConfig.Arn) as string;
  return [id, resources[id] as CfnResource] as [string, CfnResource];
};
export const table = (partitionKey: string) =>
  only('AWS::DynamoDB::Table', (t) =>
    list(props(t).KeySchema as { AttributeName: string; KeyType: string }[]).some(
      (k) => k.KeyType === 'HASH' && k.AttributeName === partitionKey,
    ),
  );
export const stateTable = () => table('pk');
export const tokenTable = () => table('grantId');
export const oauthStateTable = () => table('state');
export const auditTable = () => table('vehicleId');
export const secretId = () => only('AWS::SecretsManager::Secret')[0];
export const keyOf = ([, t]: [string, CfnResource]) =>
  refOf((props(t).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId) as string;
export const dataKeyId = () => keyOf(stateTable());
export const tokenKeyId = () => keyOf(tokenTable());

export function expectIntegrationTo(route: CfnResource, functionId: string): void {
  const target = JSON.stringify(props(route).Target);
  const integration = ofType('AWS::ApiGatewayV2::Integration').find(([id]) => target.includes(id));
  expect(integration, 'route integration').toBeDefined();
  const integrationProps = props((integration as [string, CfnResource])[1]);
  expect(integrationProps.IntegrationType).toBe('AWS_PROXY');
  expect(integrationProps.PayloadFormatVersion).toBe('2.0');
  expect(refOf(integrationProps.IntegrationUri)).toBe(functionId);
}
