import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_LOCAL_MANAGEMENT_TOKEN, prepareWebhook, sendWebhook } from './webhook-client.js';

/**
 * npm run send-webhook -- <file.json> [--url URL] [--keep-id] [--token AMT]
 *
 * Sends a webhook body the way Smartcar does: signed with HMAC-SHA256 of the exact bytes (header
 * SC-Signature), to local mode by default or to a deployed `https://…/webhooks/smartcar`.
 * Exits non-zero on a non-2xx answer, and on a VERIFY whose answer is not HMAC(AMT, challenge).
 */

const USAGE = `Usage: npm run send-webhook -- <file.json> [--url URL] [--keep-id] [--token AMT]

  <file.json>   webhook body to send (e.g. examples/vehicle-state.json)
  --url URL     receiver URL (default http://127.0.0.1:\${PORT:-3000}/webhooks/smartcar)
  --keep-id     keep the file's eventId and send its bytes unchanged (default: a fresh eventId per send)
  --token AMT   Application Management Token to sign with (default $SMARTCAR_MANAGEMENT_TOKEN,
                else the local default "${DEFAULT_LOCAL_MANAGEMENT_TOKEN}")`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        'keep-id': { type: 'boolean', default: false },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) {
    console.error(USAGE);
    return 2;
  }

  const url = values.url ?? `http://127.0.0.1:${process.env.PORT || '3000'}/webhooks/smartcar`;
  const token = values.token ?? (process.env.SMARTCAR_MANAGEMENT_TOKEN || DEFAULT_LOCAL_MANAGEMENT_TOKEN);

  const prepared = prepareWebhook(readFileSync(file), { keepId: values['keep-id'] });
  const what = prepared.challenge !== undefined ? 'VERIFY' : `event ${prepared.eventId ?? '(no eventId)'}`;
  console.log(`POST ${url}  (${what}, ${prepared.body.length} bytes, signed)`);

  const result = await sendWebhook(url, prepared, token);
  console.log(`HTTP ${result.status}`);
  if (result.responseBody !== '') console.log(result.responseBody);

  if (result.challengeVerified !== undefined) {
    console.log(
      result.challengeVerified
        ? 'VERIFY ok: the answer is HMAC-SHA256(AMT, challenge)'
        : 'VERIFY FAILED: the answer is not HMAC-SHA256(AMT, challenge) (wrong --token?)',
    );
    if (!result.challengeVerified) return 1;
  }
  return result.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const cause = (error as { cause?: { code?: string } }).cause;
    console.error(`send-webhook: ${(error as Error).message}${cause?.code ? ` (${cause.code})` : ''}`);
    process.exitCode = 1;
  },
);
