import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { FUNCTIONS, TABLES } from '../../contracts/index.js';
import { EncryptedTable, READ_WRITE_ITEM_ACTIONS, tableSchemaProps } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import { PipelineAlarms } from '../constructs/pipeline-alarms.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { SmartcarSecret } from '../constructs/smartcar-secret.js';
import { DLQ_RETENTION, WebhookQueue } from '../constructs/webhook-queue.js';
import type { LambdaEntries } from '../entries.js';

/** The processor's timeout; the queue's visibility timeout is derived from it (× 6). */
export const PROCESSOR_TIMEOUT = Duration.seconds(FUNCTIONS.processor.timeoutSeconds);
/**
 * Records per processor invocation: 10 conditional-write events finish well inside the 30 s timeout, and a
 * larger batch would only make each invocation (and the retry of a crashed one) longer.
 */
export const PROCESSOR_BATCH_SIZE = 10;
/** How long Lambda may wait to fill a batch. */
export const PROCESSOR_BATCHING_WINDOW = Duration.seconds(2);

export interface WebhookPipelineProps {
  readonly api: SmartcarHttpApi;
  readonly secret: SmartcarSecret;
  /** The vehicle-state table the processor applies events to. */
  readonly vehicleTable: EncryptedTable;
  /** Encrypts the idempotency table. */
  readonly dataKey: kms.IKey;
  readonly alarmTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
  readonly testEvents: 'separate' | 'skip';
  readonly maxBodyBytes: number;
  readonly processorMaxConcurrency: number;
}

/**
 * Smartcar → HTTP API `POST /webhooks/smartcar` → receiver Lambda (HMAC check) → SQS (+DLQ) → processor
 * Lambda → DynamoDB, with its idempotency table and on-call alarms.
 */
export class WebhookPipeline extends Construct {
  /** Behind `POST /webhooks/smartcar`: checks the signature, then queues the raw event. */
  readonly receiver: NodeLambda<'receiver'>;
  /** Consumes the queue in batches and applies the events to the vehicle-state table. */
  readonly processor: NodeLambda<'processor'>;
  /** Between the two, with the dead-letter queue an operator redrives from. */
  readonly queue: WebhookQueue;
  /** The processor's record of the event ids it has applied (Powertools Idempotency). */
  readonly idempotencyTable: EncryptedTable;
  readonly alarms: PipelineAlarms;

  constructor(scope: Construct, id: string, props: WebhookPipelineProps) {
    super(scope, id);
    const common = { metricsNamespace: props.metricsNamespace };

    this.idempotencyTable = new EncryptedTable(this, 'IdempotencyTable', {
      ...tableSchemaProps(TABLES.idempotency),
      encryptionKey: props.dataKey,
      // Short-lived deduplication records (TTL 14 days) that are safe to lose with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new WebhookQueue(this, 'WebhookQueue', { consumerTimeout: PROCESSOR_TIMEOUT });

    this.receiver = new NodeLambda(this, 'WebhookReceiver', {
      ...common,
      function: 'receiver',
      entry: props.entries?.receiver,
    });
    this.receiver.bindQueue('QUEUE_URL', this.queue);
    this.receiver.bindSecret('SMARTCAR_SECRET_ID', props.secret);
    this.receiver.setEnvironment('MAX_BODY_BYTES', String(props.maxBodyBytes));
    props.api.addFunctionRoutes(
      'Webhook',
      this.receiver.function,
      FUNCTIONS.receiver.routes,
      // No authorizer: Smartcar cannot sign with SigV4 or send a token. The receiver verifies the
      // SC-Signature HMAC over the raw body with the Application Management Token and rejects the rest.
      'Smartcar delivers webhooks without AWS credentials or tokens. Every request is authenticated ' +
        'in the receiver Lambda by the SC-Signature HMAC-SHA256 of the raw body, keyed with the ' +
        'Application Management Token; unsigned or wrongly signed requests get 401 and are never queued.',
    );

    this.processor = new NodeLambda(this, 'WebhookProcessor', {
      ...common,
      function: 'processor',
      entry: props.entries?.processor,
    });
    this.processor.bindTable('VEHICLE_TABLE_NAME', props.vehicleTable, READ_WRITE_ITEM_ACTIONS);
    this.processor.bindTable('IDEMPOTENCY_TABLE_NAME', this.idempotencyTable, READ_WRITE_ITEM_ACTIONS);
    this.processor.setEnvironment('TEST_EVENTS', props.testEvents);
    // Remember event ids as long as the DLQ keeps messages, so a redrive is deduplicated too.
    this.processor.setEnvironment('DEDUPE_TTL_SECONDS', String(DLQ_RETENTION.toSeconds()));
    this.processor.function.addEventSource(
      new SqsEventSource(this.queue.queue, {
        // Up to 10 records per invocation: fewer invocations, and Powertools' BatchProcessor handles
        // each record on its own.
        batchSize: PROCESSOR_BATCH_SIZE,
        // Wait up to 2 s to fill a batch: fewer, fuller invocations under load at a small latency cost.
        maxBatchingWindow: PROCESSOR_BATCHING_WINDOW,
        // Only the failed records return to the queue (and, after 5 receives, the DLQ); without it one bad
        // record would make the whole batch be retried and reprocessed.
        reportBatchItemFailures: true,
        // Bounded so a burst (e.g. a fleet-wide FIRST_DELIVERY) drains steadily instead of fanning out
        // into hundreds of concurrent writers that throttle DynamoDB and exhaust account concurrency; the
        // queue absorbs the backlog. Unlike reserved concurrency, this does not throttle messages back
        // into the queue (which would burn receive counts towards the DLQ).
        maxConcurrency: props.processorMaxConcurrency,
      }),
    );

    this.alarms = new PipelineAlarms(this, 'Alarms', {
      topic: props.alarmTopic,
      stage: props.api.stage,
      receiver: this.receiver.function,
      processor: this.processor.function,
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
    });
  }
}
