import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SECRET_PLACEHOLDER } from '../lambdas/smartcar/secret-placeholder.js';
import { SECRET_CACHE_SECONDS } from '../lambdas/smartcar/secret.js';
import { execCommand, stackOutputs, type Exec } from './stack-outputs.js';

/**
 * `npm run rotate-amt`: rotates the Application Management Token (the webhook HMAC key) with no delivery
 * lost, through the secret's `previousManagementToken` slot (RUNBOOK.md, "Rotating the management token").
 *
 * 1. Regenerate the AMT in the Smartcar Dashboard; Smartcar signs with the new one from then on.
 * 2. At once: `npm run rotate-amt -- --stage prod < new-token.txt` puts `{managementToken: new,
 *    previousManagementToken: old}`. A receiver that sees a signature it cannot match re-reads the secret
 *    (at most every 30 s), so the new token is accepted on its first delivery; deliveries refused before the
 *    put are retried by Smartcar for about 3 minutes. The old token stays accepted meanwhile.
 * 3. After the overlap (an hour is plenty): `npm run rotate-amt -- --stage prod --finish` drops the old one.
 * The token never appears on the command line (shell history): it is read from stdin or --token-file.
 */

export type SecretJson = Record<string, unknown>;

export class RotationError extends Error {}

/** The secret with the new token current and the old one kept as previous; never changes other fields. */
export function startRotation(secret: SecretJson, newToken: string): SecretJson {
  const token = newToken.trim();
  const current = secret.managementToken;
  if (token === '') throw new RotationError('the new management token is empty');
  if (token === SECRET_PLACEHOLDER) throw new RotationError('the new token is the placeholder');
  if (typeof current !== 'string' || current === '' || current === SECRET_PLACEHOLDER) {
    throw new RotationError(
      'the secret holds no real management token yet: put the first one with put-secret-value (README "Deploy")',
    );
  }
  if (token === current) throw new RotationError('the new token is the current one already');
  return { ...secret, managementToken: token, previousManagementToken: current };
}

/** The secret without the previous token: the old AMT stops being accepted. */
export function finishRotation(secret: SecretJson): SecretJson {
  if (secret.previousManagementToken === undefined) {
    throw new RotationError('no rotation in progress (the secret has no previousManagementToken)');
  }
  const rest = { ...secret };
  delete rest.previousManagementToken;
  return rest;
}

export const USAGE = `Usage: npm run rotate-amt -- (--stack NAME | --stage STAGE | --secret-id ID) [--region REGION]
                           [--token-file FILE] [--finish] [--dry-run]

  Start (right after regenerating the AMT in the Smartcar Dashboard), the new token on stdin or in a file:
    npm run rotate-amt -- --stage prod < new-amt.txt
  Finish (after the overlap, e.g. an hour later): npm run rotate-amt -- --stage prod --finish
  --dry-run shows which fields would change, writes nothing. Tokens are never printed.`;

export interface RotateDeps {
  readonly client?: SecretsManagerClient;
  readonly exec?: Exec;
  readonly readStdin?: () => string;
  readonly log?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

class UsageError extends Error {}

export async function runRotateAmt(argv: readonly string[], deps: RotateDeps = {}): Promise<number> {
  const log = deps.log ?? ((line: string) => console.log(line));
  const env = deps.env ?? process.env;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        stack: { type: 'string' },
        stage: { type: 'string' },
        'secret-id': { type: 'string' },
        region: { type: 'string' },
        'token-file': { type: 'string' },
        finish: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      log(USAGE);
      return 0;
    }
    const region = values.region ?? env.AWS_REGION;
    const stackName = values.stack ?? (values.stage ? `Smartcar-${values.stage}` : undefined);
    let secretId = values['secret-id'];
    if (secretId === undefined) {
      if (stackName === undefined) throw new UsageError('name the stack (--stack/--stage) or --secret-id');
      secretId = (await stackOutputs(stackName, region, deps.exec ?? execCommand)).SmartcarSecretId;
      if (secretId === undefined) throw new Error(`stack ${stackName} has no SmartcarSecretId output`);
    }
    const client = deps.client ?? new SecretsManagerClient(region ? { region } : {});
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    const secret = JSON.parse(SecretString ?? '{}') as SecretJson;

    let next: SecretJson;
    if (values.finish) {
      next = finishRotation(secret);
    } else {
      const token = values['token-file']
        ? readFileSync(values['token-file'], 'utf8')
        : (deps.readStdin ?? (() => readFileSync(0, 'utf8')))();
      next = startRotation(secret, token);
    }
    const changed = Object.keys({ ...secret, ...next }).filter((key) => secret[key] !== next[key]);
    log(`Secret ${secretId}: ${values.finish ? 'finish' : 'start'} rotation, changes ${changed.join(', ')}`);
    if (values['dry-run']) {
      log('Dry run: nothing written.');
      return 0;
    }
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify(next) }));
    log(
      values.finish
        ? 'Done: only the new management token is accepted now (within ' +
            `${SECRET_CACHE_SECONDS / 60} minutes, when the Lambdas re-read the secret).`
        : 'Both tokens are accepted now; a receiver re-reads the secret on the first delivery it cannot match. ' +
            'Watch the WebhookSignatureFailures metric stay at 0 (RUNBOOK.md), then, after the overlap, run ' +
            `this command again with --finish.`,
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      log(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    log(`rotate-amt failed: ${(error as Error).message}`);
    return 1;
  }
}
