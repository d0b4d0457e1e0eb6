import { withStdoutTo } from '../stats.js';
import { DRILLS, runDrill, type DrillName } from './one.js';

/** `tsx bench/drill/child.ts <drill> <events>`: one drill in a fresh process; its result is the one line on stdout. */
const [name, events] = process.argv.slice(2);
if (!DRILLS.includes(name as DrillName))
  throw new Error(`unknown drill ${name}; one of ${DRILLS.join(', ')}`);
const write = process.stdout.write.bind(process.stdout);
const result = await withStdoutTo(
  () => undefined,
  () => runDrill(name as DrillName, Number(events ?? 1000)),
);
write(`${JSON.stringify(result)}\n`);
