import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SSE_SQS_TLS_ONLY } from './queue-security.js';

export interface WebhookQueueProps {
  /** Timeout of the Lambda that consumes the queue; the visibility timeout is derived from it. */
  readonly consumerTimeout: Duration;
  /** Receives before a message is moved to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Both queues' removal policy (RETAIN in prod keeps undelivered events). @default DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/** How long a failed message waits in the DLQ for someone to look at it and redrive it. */
export const DLQ_RETENTION = Duration.days(14);
/** Lambda's recommendation for SQS event sources: visibility timeout at least 6 × the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/**
 * The standard queue between the webhook receiver and the processor, with its dead-letter queue.
 * Standard rather than FIFO: see docs/design.md (ordering is enforced by conditional writes).
 */
export class WebhookQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: WebhookQueueProps) {
    super(scope, id);

    // No DLQ of its own (a DLQ of a DLQ only hides failures); cdk-nag SQS3 recognises it as the main
    // queue's DLQ. Messages here raise the on-call alarm and are redriven by an operator.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...SSE_SQS_TLS_ONLY,
      // The maximum. A standard queue keeps a message's original enqueue time when it is dead-lettered,
      // so this must be longer than the main queue's retention, and it must leave time to fix and redrive.
      // The processor remembers event ids for the same 14 days (DEDUPE_TTL_SECONDS), so a redrive of an
      // already-applied event is recognised as a duplicate.
      retentionPeriod: DLQ_RETENTION,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.queue = new sqs.Queue(this, 'Queue', {
      ...SSE_SQS_TLS_ONLY,
      // Lambda's SQS guidance: at least 6 × the function timeout, so a message is not handed to a second
      // consumer while the first is still working on it (including Lambda's internal retries on throttling).
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      // Four days (the SQS default, stated explicitly because the DLQ retention depends on it).
      retentionPeriod: Duration.days(4),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        // Five attempts ride out transient DynamoDB/KMS throttling, yet a poison message reaches the DLQ
        // after about 15 minutes (5 × the visibility timeout) instead of being retried for days.
        maxReceiveCount: props.maxReceiveCount ?? 5,
      },
    });
  }

  /** Allows only `sqs:SendMessage` on the webhook queue (not GetQueueAttributes/GetQueueUrl, not the DLQ). */
  grantSend(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
  }
}
