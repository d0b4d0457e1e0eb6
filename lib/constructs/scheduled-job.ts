import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ScheduleCadence } from '../schedule-expression.js';

export interface ScheduledJobProps {
  /** The function to run; it receives EventBridge's scheduled event (whose `time` is the run's "now"). */
  readonly handler: lambda.IFunction;
  readonly schedule: ScheduleCadence;
  readonly description: string;
}

/** How long the dead-letter queue keeps a failed or dropped run: two weeks to get round to looking at it. */
export const SCHEDULED_JOB_DLQ_RETENTION = Duration.days(14);
/** Retries of EventBridge when it cannot hand the event to Lambda (throttled or failed Invoke API call). */
export const SCHEDULE_DELIVERY_RETRIES = 2;
/** Lambda's async-invocation limits: 1 minute to 6 hours. */
const MIN_EVENT_AGE_MINUTES = 1;
const MAX_EVENT_AGE_MINUTES = 6 * 60;

/**
 * Runs a Lambda on an EventBridge schedule, for an idempotent job whose next run redoes whatever a failed run
 * left undone (such as the token refresh):
 *
 * - No retry of a failed run by Lambda: the next scheduled run is the retry, with a fresh "now". Lambda's
 *   retries (after 1 and 2 more minutes) would repeat a crash or timeout with the same event, and compete with
 *   the next run for the function's concurrency. EventBridge does retry handing the event over to Lambda.
 * - A run that could not start before the next one is due is dropped rather than queued behind it
 *   (`maxEventAge` = the shortest gap between runs).
 * - Whatever is dropped or fails lands in an encrypted, TLS-only dead-letter queue: runs EventBridge could not
 *   deliver, and Lambda's failure records (the error, or why the event expired) of runs that failed. It is for
 *   the follow-up, not for redriving (a replayed run would use its old `time` as "now"), and has no alarm of
 *   its own: a failed run already pages as a Lambda error, and runs that keep being dropped page as a job
 *   that stopped running (a single dropped run is just made up by the next one).
 */
export class ScheduledJob extends Construct {
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    const maxEventAge = Duration.minutes(
      Math.min(Math.max(props.schedule.minGapMinutes, MIN_EVENT_AGE_MINUTES), MAX_EVENT_AGE_MINUTES),
    );

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      // SSE-SQS: encrypted at rest at no cost, and neither EventBridge nor Lambda needs a KMS permission.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // Queue policy that denies any request not made over TLS (cdk-nag SQS4).
      enforceSSL: true,
      retentionPeriod: SCHEDULED_JOB_DLQ_RETENTION,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself a dead-letter queue: of the EventBridge target and of Lambda's asynchronous " +
        'invocations of the scheduled job (cdk-nag only recognises DLQs of other queues). A DLQ of a DLQ ' +
        'would only hide failures; messages stay 14 days for the follow-up.',
    });

    this.rule = new events.Rule(this, 'Rule', {
      description: props.description,
      schedule: events.Schedule.expression(props.schedule.expression),
    });
    // Adds the function's resource policy for events.amazonaws.com (this rule only) and the DLQ's queue policy
    // for the rule: EventBridge needs no role.
    this.rule.addTarget(
      new targets.LambdaFunction(props.handler, {
        retryAttempts: SCHEDULE_DELIVERY_RETRIES,
        maxEventAge,
        deadLetterQueue: this.deadLetterQueue,
      }),
    );

    const deadLetterQueue = this.deadLetterQueue;
    props.handler.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge,
      // Not lambda-destinations' SqsDestination, which also grants sqs:GetQueueAttributes and GetQueueUrl:
      // Lambda needs only SendMessage to deliver a failure record.
      onFailure: {
        bind: (_scope, fn) => {
          fn.grantPrincipal.addToPrincipalPolicy(
            new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }),
          );
          return { destination: deadLetterQueue.queueArn };
        },
      },
    });
  }
}
