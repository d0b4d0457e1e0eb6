import type { Context, SQSEvent, SQSHandler } from 'aws-lambda';
import { LOCAL_FUNCTIONS, type LocalFunctions } from '../../local/runtime/functions.js';
import { LOAD_MANAGEMENT_TOKEN, startLoadStack } from '../load/local.js';
import { runLoad, type LoadFigures } from '../load/run.js';
import { check } from '../stats.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/**
 * One fault drill in this process (a fresh one per drill: the Lambda modules read their endpoints once, at
 * cold start), run by `bench/drill/child.ts`; `bench/run-drill.ts` runs them all.
 */

export const DRILLS = ['dynamodb-outage', 'sqs-outage', 'processor-killed'] as const;
export type DrillName = (typeof DRILLS)[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every function loads with its DynamoDB and SQS endpoints behind the fault proxies. */
function behindProxies(
  proxies: { dynamo: FaultProxy; sqs: FaultProxy },
  wrapProcessor?: (handler: SQSHandler) => SQSHandler,
): LocalFunctions {
  const viaProxies =
    <T>(load: () => Promise<T>) =>
    async () => {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = proxies.dynamo.endpoint;
      process.env.AWS_ENDPOINT_URL_SQS = proxies.sqs.endpoint;
      // The SQS client sends to its QueueUrl's host, not to the endpoint: the URL must name the proxy too.
      if (process.env.QUEUE_URL !== undefined) {
        process.env.QUEUE_URL = `${proxies.sqs.endpoint}${new URL(process.env.QUEUE_URL).pathname}`;
      }
      return load();
    };
  return {
    http: LOCAL_FUNCTIONS.http.map((fn) => ({ ...fn, load: viaProxies(fn.load) })),
    tokenRefresh: { ...LOCAL_FUNCTIONS.tokenRefresh, load: viaProxies(LOCAL_FUNCTIONS.tokenRefresh.load) },
    webhookProcessor: {
      ...LOCAL_FUNCTIONS.webhookProcessor,
      // In this process: the drills wrap the handler and point its clients at the proxies as it loads.
      handlerModule: undefined,
      load: viaProxies(async () => {
        const { handler } = await LOCAL_FUNCTIONS.webhookProcessor.load();
        return { handler: wrapProcessor ? wrapProcessor(handler) : handler };
      }),
    },
  };
}

/** The third batch: its first half is applied, then the invocation dies (never returns; the runtime times it out). */
function killMidBatch(killed: { count: number }) {
  return (handler: SQSHandler): SQSHandler => {
    let batches = 0;
    return (async (event: SQSEvent, context: Context) => {
      batches++;
      if (batches !== 3 || event.Records.length < 2) return handler(event, context, () => undefined);
      const half = { Records: event.Records.slice(0, Math.floor(event.Records.length / 2)) };
      await handler(half, context, () => undefined);
      killed.count = event.Records.length;
      return new Promise(() => undefined);
    }) as SQSHandler;
  };
}

export interface DrillResult {
  readonly name: DrillName;
  readonly load: LoadFigures;
}

export async function runDrill(name: DrillName, events: number): Promise<DrillResult> {
  const proxies = { dynamo: await startFaultProxy(), sqs: await startFaultProxy() };
  const killed = { count: 0 };
  const local = await startLoadStack(
    // Visibility 10 s × 5 receives: a record survives a 40 s outage before the DLQ takes it.
    {
      LOCAL_VISIBILITY_TIMEOUT_SECONDS: '10',
      LOCAL_MAX_RECEIVE_COUNT: '5',
      LOCAL_FUNCTION_TIMEOUT_SECONDS: '8',
    },
    (ports) => {
      proxies.dynamo.target(ports.dynamoDb);
      proxies.sqs.target(ports.sqs, { rewriteOwnPort: true });
      return behindProxies(proxies, name === 'processor-killed' ? killMidBatch(killed) : undefined);
    },
  );
  const outage = async (proxy: FaultProxy, afterMs: number, forMs: number) => {
    await sleep(afterMs);
    proxy.down();
    await sleep(forMs);
    proxy.up();
  };
  try {
    const load = await runLoad({
      apiUrl: local.stack.url,
      sqs: local.sqs,
      queues: local.stack.queues,
      quarantined: () => local.quarantined(),
      managementToken: LOAD_MANAGEMENT_TOKEN,
      events,
      concurrency: 25,
      drainTimeoutMs: 240_000,
      resendFailed: name === 'sqs-outage',
      duringSend:
        name === 'dynamodb-outage'
          ? () => outage(proxies.dynamo, 1_000, 20_000)
          : name === 'sqs-outage'
            ? () => outage(proxies.sqs, 500, 5_000)
            : undefined,
    });
    const extra =
      name === 'sqs-outage'
        ? [
            check(
              'the receiver answered 5xx while SQS was down',
              load.validServerErrors > 0,
              `${load.validServerErrors} 5xx`,
            ),
          ]
        : name === 'processor-killed'
          ? [
              check(
                'a processor invocation was killed mid-batch',
                killed.count > 0,
                `batch of ${killed.count}`,
              ),
            ]
          : [];
    return { name, load: { ...load, checks: [...extra, ...load.checks] } };
  } finally {
    await local.stop();
    await proxies.dynamo.stop();
    await proxies.sqs.stop();
  }
}
