import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBundles } from './bundles.js';
import { ourCost, PRICES, recipeCost, total, type CostInputs } from './cost.js';
import { benchProcessor, PROCESSOR_MEMORY_MB } from './processor.js';
import { benchReceiver } from './receiver.js';
import { benchRefresh } from './refresh.js';
import { fixed, printChecks, progress, table } from './stats.js';

/**
 * `npm run bench`: every figure beside a baseline measured in the same run (interleaved, median of
 * repetitions), printed as a table and written to bench/results.json. Exits non-zero only when a correctness
 * check fails, never because of a timing.
 */

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false } },
  allowPositionals: false,
});
const quick = values.quick === true;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const RECEIVER_MEMORY_MB = 256;
const log = progress('bench');

log('receiver CPU per request …');
// 25 interleaved batches: each is ~0.1 s, and on a shared machine a median of few is still noisy.
const receiver = await benchReceiver({ requests: quick ? 500 : 2000, batches: quick ? 5 : 25 });
log('bundles: size and import time in fresh processes …');
const bundles = await benchBundles({ repetitions: quick ? 3 : 7 });
log('processor on DynamoDB Local …');
const processor = await benchProcessor({
  signalCounts: [1, 20, 60],
  eventsPerRound: quick ? 20 : 50,
  rounds: quick ? 2 : 3,
});
log('refresh selection …');
const refresh = await benchRefresh({ sizes: [1_000, 10_000, 100_000], seedLimit: 10_000 });

const twenty = processor.bySignals.find((row) => row.signals === 20);
const costInputs: CostInputs = {
  receiverMs: receiver.receiver.p50Micros / 1000,
  receiverMemoryMB: RECEIVER_MEMORY_MB,
  processorBatchMs: twenty?.batchMs ?? Number.NaN,
  processorMemoryMB: PROCESSOR_MEMORY_MB,
  batchSize: 10,
  processorWriteUnitsPerEvent: twenty?.writeUnitsPerEvent ?? Number.NaN,
  processorReadUnitsPerEvent: 0,
  recipeVerifyMs: receiver.recipe.p50Micros / 1000,
  signals: 20,
  // The baseline ran 10 PutItems in flight: one takes 10 ÷ (PutItems per second).
  putItemMs: twenty ? 10_000 / (twenty.plainPutEventsPerSecond * twenty.requestsPerEvent) : Number.NaN,
};
const ours = ourCost(costInputs);
const recipe = recipeCost(costInputs);

const r = (value: number, baseline: number) => `${fixed(value / baseline)}×`;
const rows: string[][] = [['measure', 'value', 'baseline (same run)', 'ratio']];
rows.push([
  `receiver CPU/request (${receiver.bodyBytes} B body, log ${receiver.logLevel})`,
  `${fixed(receiver.receiver.cpuMicrosPerRequest, 1)} µs (p50 ${fixed(receiver.receiver.p50Micros, 1)}, p99 ${fixed(receiver.receiver.p99Micros, 1)})`,
  `floor ${fixed(receiver.floor.cpuMicrosPerRequest, 1)} µs (p50 ${fixed(receiver.floor.p50Micros, 1)}, p99 ${fixed(receiver.floor.p99Micros, 1)})`,
  r(receiver.receiver.cpuMicrosPerRequest, receiver.floor.cpuMicrosPerRequest),
]);
rows.push([
  "recipe's verification ÷ our receiver (peer)",
  `${fixed(receiver.recipe.cpuMicrosPerRequest, 1)} µs (p50 ${fixed(receiver.recipe.p50Micros, 1)}, p99 ${fixed(receiver.recipe.p99Micros, 1)})`,
  `ours ${fixed(receiver.receiver.cpuMicrosPerRequest, 1)} µs`,
  r(receiver.recipe.cpuMicrosPerRequest, receiver.receiver.cpuMicrosPerRequest),
]);
for (const b of bundles.bundles) {
  rows.push([
    `bundle ${b.name}: import / size`,
    `${fixed(b.importMs, 0)} ms / ${fixed(b.bytes / 1024, 0)} KB (map ${fixed(b.mapBytes / 1024, 0)} KB)`,
    `SQSClient-only ${fixed(b.baselineImportMs, 0)} ms / ${fixed(bundles.baseline.bytes / 1024, 0)} KB`,
    `${fixed(b.importRatio)}× / ${fixed(b.sizeRatio)}×`,
  ]);
}
for (const p of processor.bySignals) {
  const commands = Object.entries(p.requestsByCommand)
    .map(([name, count]) => `${name.replace('Command', '')} ${fixed(count / processor.eventsPerRound, 1)}`)
    .join(', ');
  rows.push([
    `processor, ${p.signals} signals: requests / WCU per event`,
    `${fixed(p.requestsPerEvent, 1)} (${commands}) / ${fixed(p.writeUnitsPerEvent, 1)} WCU`,
    '',
    '',
  ]);
  rows.push([
    `processor, ${p.signals} signals: events/s`,
    `${fixed(p.eventsPerSecond, 1)}`,
    `same requests as plain PutItem: ${fixed(p.plainPutEventsPerSecond, 1)} events/s`,
    `${fixed(p.ratio)}×`,
  ]);
  rows.push([
    `processor, ${p.signals} signals: events/s ÷ the previous design's ceiling`,
    `${fixed(p.eventsPerSecond, 1)}`,
    `${p.previousDesignRequestsPerEvent} plain PutItems per event: ${fixed(p.plainPutsPerSecond / p.previousDesignRequestsPerEvent, 1)} events/s`,
    `${fixed(p.vsPreviousDesignCeiling)}×`,
  ]);
}
for (const row of refresh.rows) {
  rows.push([
    `refresh: items read per due grant, ${row.grants} grants (1 % due)`,
    `${fixed(row.itemsReadPerDueGrant)} (${row.method})`,
    `Scan: ${fixed(row.scanItemsReadPerDueGrant)}`,
    `${fixed(row.itemsReadPerDueGrant / row.scanItemsReadPerDueGrant, 3)}×`,
  ]);
}
rows.push([
  'USD per million webhooks (20 signals)',
  `${fixed(total(ours))} (this stack)`,
  `${fixed(total(recipe))} (recipe's shape)`,
  r(total(ours), total(recipe)),
]);

console.log(`\nnpm run bench — ${cpus().length} CPUs, Node ${process.version}${quick ? ', --quick' : ''}\n`);
console.log(table(rows));
console.log('\ncost model (USD per million webhooks):');
console.log(
  table([
    ['this stack', 'USD', "recipe's shape", 'USD'],
    ...Array.from({ length: Math.max(ours.length, recipe.length) }, (_, i) => [
      ours[i]?.item ?? '',
      ours[i] ? fixed(ours[i].usdPerMillion, 3) : '',
      recipe[i]?.item ?? '',
      recipe[i] ? fixed(recipe[i].usdPerMillion, 3) : '',
    ]),
  ]),
);
console.log(`prices: ${JSON.stringify(PRICES)}\n`);

const checks = [...receiver.checks, ...bundles.checks, ...processor.checks, ...refresh.checks];
const ok = printChecks(checks);
const results = {
  measuredAt: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  quick,
  receiver,
  bundles,
  processor,
  refresh,
  cost: {
    inputs: costInputs,
    prices: PRICES,
    ours,
    recipe,
    oursTotal: total(ours),
    recipeTotal: total(recipe),
  },
  checks,
};
writeFileSync(join(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
log('wrote bench/results.json');
process.exitCode = ok ? 0 : 1;
