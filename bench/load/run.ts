import type { SQSClient } from '@aws-sdk/client-sqs';
import { check, type Check } from '../stats.js';
import { queueChecks, stateChecks, waitForDrain, type QueueNames } from './checks.js';
import { latencySummary, sendAll } from './send.js';
import { buildWorkload } from './workload.js';

/** One load against a running local stack: send, wait for the queue to drain, check. */

export interface LoadOptions {
  readonly apiUrl: string;
  readonly sqs: SQSClient;
  readonly queues: QueueNames;
  readonly managementToken: string;
  readonly events: number;
  readonly concurrency: number;
  readonly drainTimeoutMs: number;
  /** Runs while the webhooks are being sent (the drills inject their fault here). */
  readonly duringSend?: () => Promise<void>;
  /** Statuses a drill expects for some deliveries (its outage window); valid 5xx are then re-sent. */
  readonly resendFailed?: boolean;
}

export interface LoadFigures {
  readonly events: number;
  readonly concurrency: number;
  readonly distinctEvents: number;
  readonly resends: number;
  readonly outOfOrder: number;
  readonly poison: number;
  readonly accepted: number;
  readonly validServerErrors: number;
  readonly resentAfterFailure: number;
  readonly sendSeconds: number;
  readonly acceptedPerSecond: number;
  readonly latencyMs: { p50: number; p95: number; p99: number };
  readonly drainSeconds: number;
  readonly drainOverSend: number;
  readonly checks: Check[];
}

export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const workload = buildWorkload(options.events);
  const url = `${options.apiUrl}/webhooks/smartcar`;
  const bodies = workload.deliveries.map((delivery) => delivery.body);
  const t0 = performance.now();
  const [sent] = await Promise.all([
    sendAll(url, bodies, options.managementToken, options.concurrency),
    options.duringSend?.(),
  ]);
  const failed = sent.statuses.flatMap((status, i) => (status >= 200 && status < 300 ? [] : [i]));
  const validServerErrors = failed.filter(
    (i) => workload.deliveries[i]?.kind !== 'poison' && (sent.statuses[i] ?? 0) >= 500,
  ).length;
  let resentAfterFailure = 0;
  if (options.resendFailed === true && failed.length > 0) {
    // What Smartcar does after a 5xx: deliver the same bytes again later.
    const again = await sendAll(
      url,
      failed.map((i) => bodies[i] ?? ''),
      options.managementToken,
      options.concurrency,
    );
    resentAfterFailure = again.statuses.filter((status) => status >= 200 && status < 300).length;
  }
  const drained = await waitForDrain(options.sqs, options.queues, options.drainTimeoutMs);
  const drainSeconds = (performance.now() - t0) / 1000;
  const accepted = sent.statuses.filter((status) => status >= 200 && status < 300).length;
  const checks: Check[] = [
    check('the queue drained', drained, drained ? '' : `not empty after ${options.drainTimeoutMs} ms`),
    ...(options.resendFailed === true
      ? [check('every delivery accepted once re-sent', accepted + resentAfterFailure === bodies.length)]
      : [check('zero 5xx on valid input', validServerErrors === 0, `${validServerErrors} answered 5xx`)]),
    ...(await stateChecks(options.apiUrl, workload.expected)),
    ...(await queueChecks(options.sqs, options.queues, workload.expected)),
  ];
  return {
    events: bodies.length,
    concurrency: options.concurrency,
    distinctEvents: workload.expected.distinctEvents,
    resends: workload.expected.resends,
    outOfOrder: workload.expected.outOfOrder,
    poison: workload.expected.poisonCount,
    accepted,
    validServerErrors,
    resentAfterFailure,
    sendSeconds: sent.seconds,
    acceptedPerSecond: accepted / sent.seconds,
    latencyMs: latencySummary(sent.latenciesMs),
    drainSeconds,
    drainOverSend: drainSeconds / sent.seconds,
    checks,
  };
}
