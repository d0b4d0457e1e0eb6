import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { startBareReceiver } from './load/baseline-server.js';
import { LOAD_MANAGEMENT_TOKEN, startLoadStack } from './load/local.js';
import { runLoad } from './load/run.js';
import { sendAll } from './load/send.js';
import { buildWorkload } from './load/workload.js';
import { fixed, median, printChecks, progress, table, withStdoutTo } from './stats.js';

/**
 * `npm run load [-- --events N --concurrency C]`: N signed webhooks against the local stack (started here, in
 * this process), then the correctness checks. Accepted/s is quoted against a bare "verify HMAC + SendMessage"
 * server on the same SQS emulator, run (after an untimed warm-up) before and after the pipeline, from the same
 * load generator in the same process. Exits non-zero only when a check fails.
 */

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '50' },
  },
});
const events = Number(values.events);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(events) || events < 10 || !Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error('--events must be an integer ≥ 10 and --concurrency ≥ 1');
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const outDir = join(import.meta.dirname, '.out');
mkdirSync(outDir, { recursive: true });
const logFile = join(outDir, 'load.log');
const logStream = createWriteStream(logFile);
const say = progress('load');

say(`starting the local stack (its output goes to ${logFile}) …`);
const result = await withStdoutTo(
  (chunk) => logStream.write(chunk),
  async () => {
    const local = await startLoadStack();
    try {
      const { QueueUrl = '' } = await local.sqs.send(
        new CreateQueueCommand({ QueueName: 'bench-bare-baseline' }),
      );
      const bare = await startBareReceiver({
        client: local.sqs,
        queueUrl: QueueUrl,
        managementToken: LOAD_MANAGEMENT_TOKEN,
      });
      const baselineBodies = buildWorkload(events, 7).deliveries.map((delivery) => delivery.body);
      const baseline = async () =>
        (await sendAll(bare.url, baselineBodies, LOAD_MANAGEMENT_TOKEN, concurrency)).statuses.filter(
          (s) => s === 200,
        ).length;
      const rates: number[] = [];
      const timed = async () => {
        const t0 = performance.now();
        const ok = await baseline();
        rates.push(ok / ((performance.now() - t0) / 1000));
      };
      say('baseline: bare verify + SendMessage server …');
      // Untimed first: the first run of a fresh process is the load generator's and the SQS client's warm-up
      // (JIT, connections), which the pipeline run after it would not pay; timing it would sink the baseline.
      await baseline();
      await timed();
      say(`pipeline: ${events} webhooks at concurrency ${concurrency} …`);
      const load = await runLoad({
        apiUrl: local.stack.url,
        sqs: local.sqs,
        queues: local.stack.queues,
        quarantined: () => local.quarantined(),
        managementToken: LOAD_MANAGEMENT_TOKEN,
        events,
        concurrency,
        drainTimeoutMs: Math.max(180_000, events * 100),
      });
      say('baseline again …');
      await timed();
      await bare.stop();
      await local.sqs.send(new DeleteQueueCommand({ QueueUrl }));
      return { load, bareAcceptedPerSecond: median(rates) };
    } finally {
      await local.stop();
    }
  },
);
logStream.end();

const { load, bareAcceptedPerSecond } = result;
console.log(
  `\nnpm run load — ${load.events} webhooks (${load.distinctEvents} distinct, ${load.resends} re-sent, ` +
    `${load.outOfOrder} out of order, ${load.poison} poison), concurrency ${load.concurrency}\n`,
);
console.log(
  table([
    ['measure', 'value', 'baseline (same run)', 'ratio'],
    [
      'accepted/s',
      fixed(load.acceptedPerSecond, 0),
      `bare verify + SendMessage: ${fixed(bareAcceptedPerSecond, 0)}`,
      `${fixed(load.acceptedPerSecond / bareAcceptedPerSecond)}×`,
    ],
    [
      'latency p50 / p95 / p99 (ms)',
      `${fixed(load.latencyMs.p50, 1)} / ${fixed(load.latencyMs.p95, 1)} / ${fixed(load.latencyMs.p99, 1)}`,
      '',
      '',
    ],
    [
      'drain time ÷ send time',
      `${fixed(load.drainSeconds, 1)} s ÷ ${fixed(load.sendSeconds, 1)} s`,
      '',
      `${fixed(load.drainOverSend)}×`,
    ],
  ]),
);
console.log('');
const ok = printChecks(load.checks);
process.exitCode = ok ? 0 : 1;
