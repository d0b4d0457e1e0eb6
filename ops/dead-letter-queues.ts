import { LOCAL_NAMES } from '../local/stack.js';

/**
 * The dead-letter queues an operator may have to look at, by the name `npm run redrive -- --queue <name>`
 * takes. A feature with a DLQ adds one entry here (and its alarm and runbook section), nothing else.
 */
export interface DeadLetterQueueSpec {
  /** `--queue` value. */
  readonly name: string;
  /** Stack output holding the DLQ's URL. */
  readonly dlqOutput: string;
  /**
   * Whether moving its messages back makes sense. On AWS StartMessageMoveTask returns them to the queue they
   * came from; locally they go back to `local.source`.
   */
  readonly redrivable: boolean;
  /** What to do instead, for a DLQ that is not redriven. */
  readonly note?: string;
  /** Queue names in local mode (`npm start`); absent when local mode has no such queue. */
  readonly local?: { readonly dlq: string; readonly source: string };
}

export const DEAD_LETTER_QUEUES: readonly DeadLetterQueueSpec[] = [
  {
    name: 'webhooks',
    dlqOutput: 'DeadLetterQueueUrl',
    redrivable: true,
    // Redriven events are deduplicated by eventId (DEDUPE_TTL_SECONDS = DLQ retention), so a redrive is safe.
    local: { dlq: LOCAL_NAMES.deadLetterQueue, source: LOCAL_NAMES.queue },
  },
  {
    name: 'refresh',
    dlqOutput: 'TokenRefreshDeadLetterQueueUrl',
    redrivable: false,
    note:
      'failed or dropped token refresh runs, kept for diagnosis: a replayed run would use its old time as ' +
      '"now", and the next scheduled run redoes whatever a failed one left undone. Read them with ' +
      '`aws sqs receive-message --queue-url <TokenRefreshDeadLetterQueueUrl>`; run a refresh now with ' +
      '`aws lambda invoke --function-name <TokenRefreshFunctionName> out.json` (RUNBOOK.md).',
  },
];
