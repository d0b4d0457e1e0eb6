import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTIONS, type EnvironmentOf, type FunctionId } from '../../contracts/index.js';
import { BUNDLE_ALIASES, ESM_REQUIRE_BANNER } from '../bundling.js';
import { DEPS_LOCK_FILE, LAMBDA_ENTRIES } from '../entries.js';
import type { EncryptedTable, ItemAction } from './encrypted-table.js';
import type { SmartcarSecret } from './smartcar-secret.js';
import type { TokenCryptoAction, TokenKey } from './token-key.js';
import type { WebhookQueue } from './webhook-queue.js';
import type { TokenRecoveryQueue } from './token-recovery-queue.js';

/** A queue a function sends to: a webhook-style queue, or the token recovery queue (parking only). */
export type SendableQueue = Pick<WebhookQueue | TokenRecoveryQueue, 'queue' | 'grantSend'>;

/** The newest Node.js runtime this aws-cdk-lib knows (cdk-nag L1 checks for exactly that). */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface NodeLambdaProps<F extends FunctionId> {
  /**
   * Which function of contracts/functions.ts this is: its description, POWERTOOLS_SERVICE_NAME, memory size,
   * timeout and handler file, and the environment variables that must be bound before synthesis.
   */
  readonly function: F;
  /**
   * Absolute path of the handler file (exports `handler`). Tests that skip bundling may point it at any
   * existing file (NodejsFunction checks that the entry exists even when it does not bundle).
   * @default the contract's entry
   */
  readonly entry?: string;
  /** POWERTOOLS_METRICS_NAMESPACE. */
  readonly metricsNamespace: string;
  /** package-lock.json of the project (pins what esbuild resolves). @default the repository's */
  readonly depsLockFilePath?: string;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrency: both the most instances that may run at once and capacity taken out of the account's
   * unreserved pool (Lambda keeps at least 100 of it unreserved, so accounts still on a low concurrency quota
   * cannot reserve any and the deployment fails). Set it only with a reason.
   * @default none (scales within the account's unreserved concurrency)
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A bundled TypeScript Lambda with the project's defaults: arm64, newest Node.js, ESM bundle with the
 * AWS SDK inside, its own log group with a retention, and its own role that may write only to that log
 * group. Callers add exactly the other permissions it needs, each with the `bind*` method that also sets
 * the variable the function finds the resource by: the variable and the grant cannot drift apart, and synth
 * fails while a variable the contract declares is unset (or one it does not declare is set).
 */
export class NodeLambda<F extends FunctionId = FunctionId> extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  private readonly bound = new Set<string>();

  constructor(scope: Construct, id: string, props: NodeLambdaProps<F>) {
    super(scope, id);
    const contract = FUNCTIONS[props.function];

    // An explicit log group instead of the implicit /aws/lambda/<name> one: it gets a retention without
    // the LogRetention custom resource (another Lambda with logs:PutRetentionPolicy on *), and the role
    // can be scoped to it.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      // Long enough to follow up an incident, short enough not to hoard vehicle identifiers.
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // Operational logs, not data: deleted with the stack instead of being left behind as orphans.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Own role per function instead of the default one with the AWSLambdaBasicExecutionRole managed
    // policy, which allows logs:CreateLogGroup/PutLogEvents on every log group in the account (cdk-nag IAM4).
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of: ${contract.description}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The log group's ARN attribute already covers its streams (it ends in ":*").
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry ?? LAMBDA_ENTRIES[props.function],
      handler: 'handler',
      description: contract.description,
      runtime: LAMBDA_RUNTIME,
      // Graviton: about 20% cheaper per GB-second than x86_64, and the bundle has no native code.
      architecture: lambda.Architecture.ARM_64,
      memorySize: contract.memorySize,
      timeout: Duration.seconds(contract.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // X-Ray active tracing: each invocation's segment with the AWS SDK calls it made (Secrets Manager, SQS,
      // DynamoDB, KMS) and their latency, so a slow or failing dependency is visible per request.
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      depsLockFilePath: props.depsLockFilePath ?? DEPS_LOCK_FILE,
      environment: {
        POWERTOOLS_SERVICE_NAME: contract.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        // Stack traces point at the TypeScript sources (the bundle ships a source map).
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        // ESM output: top-level await for cold-start initialisation and better tree-shaking.
        format: OutputFormat.ESM,
        // Prefer the ESM builds of dependencies (tree-shakeable), fall back to CommonJS.
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Narrower modules for what dependencies import whole (lib/bundling.ts: lodash for the smartcar SDK).
        esbuildArgs: { '--alias': Object.entries(BUNDLE_ALIASES).map(([from, to]) => `${from}=${to}`) },
        minify: true,
        sourceMap: true,
        // Line mapping is enough for stack traces; leaving the sources out keeps the bundle small.
        sourcesContent: false,
        // Bundle the AWS SDK v3 instead of using the runtime's copy: the versions are pinned by
        // package-lock.json (the runtime's change without notice) and only the used clients are included.
        bundleAwsSDK: true,
        // Never fall back to Docker (not available in CI); the project's own esbuild is used.
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
    });

    // Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*" to the role.
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray trace segments have no resource ARN: xray:PutTraceSegments and xray:PutTelemetryRecords only ' +
        'support "*" (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html), ' +
        'and they write telemetry only.',
    });

    const declared: readonly string[] = contract.environment;
    const optional: readonly string[] = contract.optionalEnvironment;
    this.node.addValidation({
      validate: () => [
        ...declared
          .filter((name) => !this.bound.has(name))
          .map((name) => `${id}: ${name} is declared in contracts/functions.ts but not set`),
        ...[...this.bound]
          .filter((name) => !declared.includes(name) && !optional.includes(name))
          .map((name) => `${id}: ${name} is set but not declared in contracts/functions.ts`),
      ],
    });
  }

  /** POWERTOOLS_LOG_LEVEL (the stack sets every function's from its `logLevel` setting). */
  setLogLevel(level: PowertoolsLogLevel): void {
    this.function.addEnvironment('POWERTOOLS_LOG_LEVEL', level);
  }

  /** Sets a setting's value (no resource, so no grant). */
  setEnvironment(name: EnvironmentOf<F>, value: string): void {
    if (this.bound.has(name)) throw new Error(`NodeLambda: ${name} is already set`);
    this.bound.add(name);
    this.function.addEnvironment(name, value);
  }

  /** `name` = the table's name, and exactly `actions` on its items (see EncryptedTable.grantItems). */
  bindTable(
    name: EnvironmentOf<F>,
    table: EncryptedTable,
    actions: readonly ItemAction[],
    options: { readonly queryIndexes?: readonly string[] } = {},
  ): void {
    this.setEnvironment(name, table.table.tableName);
    table.grantItems(this.role, actions);
    for (const indexName of options.queryIndexes ?? []) table.grantQueryIndex(this.role, indexName);
  }

  /** `name` = the queue's URL, and permission to send to it (nothing else). */
  bindQueue(name: EnvironmentOf<F>, queue: SendableQueue): void {
    this.setEnvironment(name, queue.queue.queueUrl);
    queue.grantSend(this.role);
  }

  /** `name` = the recovery queue's URL, and permission to park in it and apply from it. */
  bindRecoveryQueue(name: EnvironmentOf<F>, queue: TokenRecoveryQueue): void {
    this.setEnvironment(name, queue.queue.queueUrl);
    queue.grantParkAndApply(this.role);
  }

  /** `name` = the secret's id (never its value), and permission to read it. */
  bindSecret(name: EnvironmentOf<F>, secret: SmartcarSecret): void {
    this.setEnvironment(name, secret.secretId);
    secret.grantRead(this.role);
  }

  /** `name` = the token key's ARN, and `actions` with it in the token encryption context only. */
  bindKey(name: EnvironmentOf<F>, key: TokenKey, actions: readonly TokenCryptoAction[]): void {
    this.setEnvironment(name, key.keyArn);
    key.grantTokenCrypto(this.role, actions);
  }
}
