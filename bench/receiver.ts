import { createHmac, timingSafeEqual } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import smartcar from 'smartcar';
import { createReceiverHandler } from '../lambdas/webhook-receiver/create-handler.js';
import { fiveKilobyteBody } from './events.js';
import { webhookHttpEvent } from './http-event.js';
import { check, discard, interleave, median, percentile, withStdoutTo, type Check } from './stats.js';

/**
 * Receiver CPU per request: the real handler (built by its factory, with in-memory fakes for the secret and the
 * queue, logging at the deployed level) against the floor any correct receiver pays — HMAC-SHA256 of the body,
 * a constant-time compare and one JSON.parse — and against the verification logic of Smartcar's AWS recipe
 * (`verifyPayload` of the SDK over `JSON.stringify(JSON.parse(body))`, compared with `===`), all on one body.
 */

const AMT = 'bench-application-management-token';
/** The level the stack deploys (lib/constructs/node-lambda.ts: POWERTOOLS_LOG_LEVEL defaults to INFO). */
export const DEPLOYED_LOG_LEVEL = 'INFO';

export interface VariantFigures {
  /** Median over batches of (CPU µs of the batch ÷ requests in it). */
  readonly cpuMicrosPerRequest: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
}

export interface ReceiverFigures {
  readonly bodyBytes: number;
  readonly requestsPerBatch: number;
  readonly batches: number;
  readonly logLevel: string;
  readonly receiver: VariantFigures;
  readonly floor: VariantFigures;
  readonly recipe: VariantFigures;
  readonly checks: Check[];
}

type Step = () => Promise<boolean> | boolean;

interface Batch {
  readonly cpuMicros: number;
  readonly latencies: number[];
  readonly allTrue: boolean;
}

async function runBatch(step: Step, requests: number): Promise<Batch> {
  const latencies: number[] = [];
  let allTrue = true;
  const start = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    if (!(await step())) allTrue = false;
    latencies.push((performance.now() - t0) * 1000);
  }
  const used = process.cpuUsage(start);
  return { cpuMicros: (used.user + used.system) / requests, latencies, allTrue };
}

function figures(batches: readonly Batch[]): VariantFigures {
  const latencies = batches.flatMap((batch) => batch.latencies);
  return {
    cpuMicrosPerRequest: median(batches.map((batch) => batch.cpuMicros)),
    p50Micros: percentile(latencies, 50),
    p99Micros: percentile(latencies, 99),
  };
}

export async function benchReceiver(options: {
  requests: number;
  batches: number;
}): Promise<ReceiverFigures> {
  const body = fiveKilobyteBody();
  const signature = createHmac('sha256', AMT).update(body).digest('hex');
  const event = webhookHttpEvent(body, signature);
  let queued = 0;
  const handler = createReceiverHandler({
    maxBodyBytes: 128 * 1024,
    secret: { get: async () => ({ clientId: 'bench', clientSecret: 'bench', managementToken: AMT }) },
    queue: {
      send: async () => {
        queued++;
        return `message-${queued}`;
      },
    },
    logger: new Logger({ serviceName: 'webhook-receiver', logLevel: DEPLOYED_LOG_LEVEL }),
  });

  const receiverStep: Step = async () => (await handler(event)).statusCode === 200;
  const floorStep: Step = () => {
    const expected = createHmac('sha256', AMT).update(body).digest();
    const ok = timingSafeEqual(expected, Buffer.from(signature, 'hex'));
    JSON.parse(body);
    return ok;
  };
  // The recipe's check, reimplemented: the SDK re-serializes the parsed body and compares hex strings.
  const recipeStep: Step = () => smartcar.verifyPayload(AMT, signature, JSON.parse(body));

  const steps = { receiver: receiverStep, floor: floorStep, recipe: recipeStep };
  // Warm-up: JIT and the Logger's first-line set-up are not what a warm container pays per request.
  const runs = await withStdoutTo(discard, async () => {
    for (const step of Object.values(steps)) await runBatch(step, options.requests);
    return interleave(
      {
        receiver: () => runBatch(receiverStep, options.requests),
        floor: () => runBatch(floorStep, options.requests),
        recipe: () => runBatch(recipeStep, options.requests),
      },
      options.batches,
    );
  });
  const checks = [
    check(
      'receiver accepts the signed body (200, queued)',
      runs.receiver.every((b) => b.allTrue) && queued > 0,
    ),
    check(
      'recipe peer verifies the same body',
      runs.recipe.every((b) => b.allTrue),
      'the body is compact JSON',
    ),
    check(
      'floor verifies the same body',
      runs.floor.every((b) => b.allTrue),
    ),
  ];
  return {
    bodyBytes: Buffer.byteLength(body),
    requestsPerBatch: options.requests,
    batches: options.batches,
    logLevel: DEPLOYED_LOG_LEVEL,
    receiver: figures(runs.receiver),
    floor: figures(runs.floor),
    recipe: figures(runs.recipe),
    checks,
  };
}
