import { runRedrive } from './redrive-cli.js';

// `npm run redrive -- …`
process.exitCode = await runRedrive(process.argv.slice(2));
