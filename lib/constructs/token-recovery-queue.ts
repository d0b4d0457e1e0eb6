import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SSE_SQS_TLS_ONLY } from './queue-security.js';

export interface TokenRecoveryQueueProps {
  /** Timeout of the refresh job that receives from the queue; the visibility timeout equals it. */
  readonly consumerTimeout: Duration;
  /** Receives before a message is moved to the DLQ. @default 10 */
  readonly maxReceiveCount?: number;
}

/**
 * Where a token rotation (the refresh job's, or getAccessToken's in the command Lambda and the subscription
 * worker) parks a rotated pair it could not store (docs/design.md, "A rotated pair that cannot
 * be stored"), for the next run to apply first; with its dead-letter queue.
 *
 * SSE-SQS, not the token CMK: parking must work while KMS is what is down, and a KMS-encrypted queue needs
 * kms:GenerateDataKey for every SendMessage. The message body is itself sealed under a data key of the token
 * CMK (bound to its grant), so the queue's own encryption only has to protect ciphertext.
 */
export class TokenRecoveryQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: TokenRecoveryQueueProps) {
    super(scope, id);
    // No DLQ of its own (cdk-nag SQS3 recognises it as the main queue's DLQ); a message here pages on-call.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...SSE_SQS_TLS_ONLY,
      // The maximum: a parked refresh token stays valid for 60 days, so an operator has time to fix and redrive.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...SSE_SQS_TLS_ONLY,
      // The maximum: a parked pair is useful until its refresh token expires (60 days), so it must outlast a
      // long KMS or DynamoDB outage; the next run normally applies it 15 minutes later.
      retentionPeriod: Duration.days(14),
      // A run receives every message once: hidden for the rest of that run (no second receive of the same
      // message by the same run), visible again to the next run when it could not be applied.
      visibilityTimeout: props.consumerTimeout,
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        // Ten runs (2.5 hours at the default schedule) that could not apply it: an outage that long, or a
        // message that can never be applied (not authentic), is for a human; the DLQ alarm pages.
        maxReceiveCount: props.maxReceiveCount ?? 10,
      },
    });
  }

  /** The refresh job parks (SendMessage) and applies (ReceiveMessage, DeleteMessage); nothing else, no DLQ. */
  grantParkAndApply(grantee: iam.IGrantable): void {
    this.grant(grantee, ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']);
  }

  /**
   * Parking only (`sqs:SendMessage`), for the Lambdas whose getAccessToken refreshes on demand: the refresh job
   * stays the only consumer. No queue key to grant: the queue is SSE-SQS (see above).
   */
  grantSend(grantee: iam.IGrantable): void {
    this.grant(grantee, ['sqs:SendMessage']);
  }

  private grant(grantee: iam.IGrantable, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions, resources: [this.queue.queueArn] }),
    );
  }
}
