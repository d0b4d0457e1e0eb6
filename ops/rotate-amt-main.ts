import { runRotateAmt } from './rotate-amt.js';

// `npm run rotate-amt -- …`
process.exitCode = await runRotateAmt(process.argv.slice(2));
