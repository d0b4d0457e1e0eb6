import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LAMBDA_RUNTIME } from '../../lib/constructs/node-lambda.js';
import { LAMBDA_ENTRIES } from '../../lib/entries.js';
import { PROCESSOR_TIMEOUT } from '../../lib/features/webhook-pipeline.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  allFunctions,
  allowsAny,
  type CfnResource,
  dataKeyId,
  each,
  envOf,
  list,
  ofType,
  only,
  permissionsOf,
  processor,
  props,
  queues,
  receiver,
  refOf,
  resourceIds,
  resources,
  secretId,
  stack,
  statementsOf,
  stateTable,
  synthesizeStack,
  vehicleRead,
  auditTable,
} from './stack-template.js';

/** The webhook pipeline (lib/features/webhook-pipeline.ts) and the vehicle read API (lib/features/vehicle-api.ts). */

beforeAll(synthesizeStack);

describe('queue and dead-letter queue', () => {
  it('moves a message to the DLQ after 5 receives; the DLQ keeps it 14 days', () => {
    const { main, dlq } = queues();
    const redrive = props(main[1]).RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
    expect(redrive.maxReceiveCount).toBe(5);
    expect(refOf(redrive.deadLetterTargetArn)).toBe(dlq[0]);
    expect(props(dlq[1]).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(props(dlq[1]).MessageRetentionPeriod as number).toBeGreaterThan(
      props(main[1]).MessageRetentionPeriod as number,
    );
  });

  it('has a visibility timeout of at least 6 × the processor timeout', () => {
    const processorTimeout = props(processor()[1]).Timeout as number;
    expect(processorTimeout).toBe(PROCESSOR_TIMEOUT.toSeconds());
    expect(props(queues().main[1]).VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * processorTimeout);
  });

  it('feeds the processor in bounded batches that report partial failures', () => {
    const [, mapping] = only(
      'AWS::Lambda::EventSourceMapping',
      (m) => refOf(props(m).EventSourceArn) === queues().main[0],
    );
    const p = props(mapping);
    expect(refOf(p.FunctionName)).toBe(processor()[0]);
    expect(p.BatchSize).toBe(10);
    expect(p.MaximumBatchingWindowInSeconds).toBeGreaterThanOrEqual(1);
    expect(p.MaximumBatchingWindowInSeconds).toBeLessThanOrEqual(5);
    expect(p.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(p.ScalingConfig).toEqual({ MaximumConcurrency: 5 });
  });
});

describe('Lambda functions', () => {
  it('run on arm64 with the newest Node.js runtime this aws-cdk-lib offers', () => {
    const newestNode = lambda.Runtime.ALL.filter((r) => r.name.startsWith('nodejs'))
      .map((r) => r.name)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      .at(-1);
    expect(LAMBDA_RUNTIME.name).toBe(newestNode);
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const [, f] of functions) {
      expect(props(f).Runtime).toBe(LAMBDA_RUNTIME.name);
      expect(props(f).Architectures).toEqual(['arm64']);
    }
  });

  it('log to their own log group with a retention (no LogRetention custom resource)', () => {
    for (const [, f] of ofType('AWS::Lambda::Function')) {
      const logGroupId = refOf((props(f).LoggingConfig as { LogGroup: unknown }).LogGroup);
      expect(props(resources[logGroupId as string] as CfnResource).RetentionInDays).toBeGreaterThan(0);
    }
    expect(ofType('Custom::LogRetention')).toEqual([]);
  });

  it('get the environment of docs/design.md', () => {
    const common = {
      POWERTOOLS_SERVICE_NAME: expect.any(String),
      POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    };
    expect(envOf(receiver()[1])).toEqual({
      ...common,
      QUEUE_URL: { Ref: queues().main[0] },
      SMARTCAR_SECRET_ID: { Ref: secretId() },
      MAX_BODY_BYTES: '131072',
    });
    expect(envOf(processor()[1])).toEqual({
      ...common,
      VEHICLE_TABLE_NAME: { Ref: stateTable()[0] },
      TEST_EVENTS: 'separate',
      DEDUPE_TTL_SECONDS: String(14 * 24 * 3600),
      COMMAND_AUDIT_TABLE_NAME: { Ref: auditTable()[0] },
    });
    expect(envOf(vehicleRead()[1])).toEqual({ ...common, VEHICLE_TABLE_NAME: { Ref: stateTable()[0] } });
  });

  it('keep the receiver inside Smartcar’s 15 s delivery timeout', () => {
    expect(props(receiver()[1]).Timeout as number).toBeLessThanOrEqual(10);
  });

  it('use the handler files named in docs/design.md by default', () => {
    expect(LAMBDA_ENTRIES.receiver).toMatch(/lambdas\/webhook-receiver\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.processor).toMatch(/lambdas\/webhook-processor\/handler\.ts$/);
    expect(LAMBDA_ENTRIES.vehicleRead).toMatch(/lambdas\/vehicle-read\/handler\.ts$/);
  });
});

describe('least privilege', () => {
  it('has no wildcard action or resource and no managed policy in any Lambda role', () => {
    expect(allFunctions()).toHaveLength(13);
    for (const f of allFunctions()) {
      for (const statement of statementsOf(f)) {
        for (const action of list(statement.Action)) expect(action).not.toContain('*');
        for (const resource of list(statement.Resource)) expect(JSON.stringify(resource)).not.toContain('*');
      }
    }
  });

  it('lets the receiver only send to its queue and read its secret (plus write its logs)', () => {
    const statements = statementsOf(receiver());
    expect(new Set(actionsOf(statements))).toEqual(
      new Set([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:SendMessage',
        'secretsmanager:GetSecretValue',
      ]),
    );
    for (const s of statements) {
      const actions = list(s.Action);
      if (actions.includes('sqs:SendMessage')) expect(resourceIds(s)).toEqual([queues().main[0]]);
      if (actions.includes('secretsmanager:GetSecretValue')) expect(resourceIds(s)).toEqual([secretId()]);
      if (actions.some((a) => a.startsWith('logs:'))) {
        expect(resources[resourceIds(s)[0] as string]?.Type).toBe('AWS::Logs::LogGroup');
      }
    }
    expect(allowsAny(statements, 'dynamodb:')).toBe(false);
    expect(allowsAny(statements, 'kms:')).toBe(false);
  });

  it('lets the processor use only the vehicle-state table, its queue, the data key and the command audit (confirmations), and not the secret', () => {
    const statements = statementsOf(processor());
    expect(allowsAny(statements, 'secretsmanager:')).toBe(false);
    expect(allowsAny(statements, 'sqs:SendMessage')).toBe(false);
    const tables = new Set([stateTable()[0], auditTable()[0]]);
    const dataKey = refOf(
      (props(stateTable()[1]).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId,
    );
    for (const s of statements) {
      const actions = list(s.Action);
      if (actions.some((a) => a.startsWith('dynamodb:'))) {
        for (const id of resourceIds(s)) expect(tables.has(id as string)).toBe(true);
        expect(actions).not.toEqual(
          expect.arrayContaining([expect.stringMatching(/Scan|Table|Backup|Restore|TimeToLive|Export/)]),
        );
      }
      if (actions.some((a) => a.startsWith('kms:'))) {
        expect(resourceIds(s)).toEqual([dataKey]);
        expect(Object.keys(s.Condition?.StringEquals ?? {})).toContain('kms:ViaService');
      }
      if (actions.some((a) => a.startsWith('sqs:'))) expect(resourceIds(s)).toEqual([queues().main[0]]);
    }
    const dynamoResources = statements
      .filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:PutItem')))
      .flatMap(resourceIds);
    expect(new Set(dynamoResources)).toEqual(new Set([stateTable()[0]]));
    // On the audit: one Query per lock/charging report and the conditional SENT → CONFIRMED update only.
    const onAudit = statements.filter((s) => resourceIds(s).includes(auditTable()[0]));
    expect(new Set(actionsOf(onAudit))).toEqual(new Set(['dynamodb:Query', 'dynamodb:UpdateItem']));
  });

  it('lets the read Lambda only read items of the state table, query its byAppUser index and decrypt', () => {
    const table = `<${stateTable()[0]}>`;
    expect(permissionsOf(vehicleRead())).toEqual(
      new Set([
        ...each(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], table),
        `dynamodb:Query ${table}/index/byAppUser`,
        `kms:Decrypt <${dataKeyId()}> via DynamoDB`,
      ]),
    );
  });
});
