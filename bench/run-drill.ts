import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { DRILLS, type DrillResult } from './drill/one.js';
import { rotationOutageDrill } from './drill/rotation.js';
import { check, fixed, printChecks, progress, table, type Check } from './stats.js';

/**
 * `npm run drill [-- --events N --only <drill>]`: fault drills against the local stack, each in a fresh process,
 * each ending with the load's checks. Exits non-zero when any check fails (a correctness check, never a timing).
 */

const run = promisify(execFile);
const say = progress('drill');
const { values } = parseArgs({
  options: { events: { type: 'string', default: '1000' }, only: { type: 'string' } },
});
const selected = values.only === undefined ? [...DRILLS] : DRILLS.filter((name) => name === values.only);

const results: { name: string; checks: Check[]; load?: DrillResult['load'] }[] = [];
for (const name of selected) {
  say(`${name} …`);
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'drill', 'child.ts'), name, String(values.events)],
      { cwd: join(import.meta.dirname, '..'), maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as DrillResult;
    results.push({ name, checks: result.load.checks, load: result.load });
  } catch (error) {
    results.push({ name, checks: [check(`${name} ran to completion`, false, String(error).slice(0, 300))] });
  }
}
if (values.only === undefined || values.only === 'rotation-outage') {
  say('rotation-outage …');
  try {
    results.push({ name: 'rotation-outage', checks: await rotationOutageDrill() });
  } catch (error) {
    results.push({
      name: 'rotation-outage',
      checks: [check('rotation-outage ran to completion', false, String(error).slice(0, 300))],
    });
  }
}

console.log(
  `\n${table([
    ['drill', 'accepted', '5xx (valid)', 're-sent', 'drain ÷ send', 'checks'],
    ...results.map((result) => [
      result.name,
      result.load ? String(result.load.accepted) : '',
      result.load ? String(result.load.validServerErrors) : '',
      result.load ? String(result.load.resentAfterFailure) : '',
      result.load ? `${fixed(result.load.drainOverSend)}×` : '',
      result.checks.every((c) => c.ok) ? 'PASS' : 'FAIL',
    ]),
  ])}\n`,
);
let ok = true;
for (const result of results) {
  console.log(`${result.name}:`);
  ok = printChecks(result.checks, (line) => console.log(`  ${line}`)) && ok;
}
process.exitCode = ok ? 0 : 1;
