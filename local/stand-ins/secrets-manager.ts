import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { AwsJsonError, awsJsonHandler, type AwsJsonAction } from './aws-json-protocol.js';
import { closeServer, listen } from '../loopback-server.js';

/**
 * A stand-in for AWS Secrets Manager, for local mode only (never bundled into a Lambda).
 *
 * It speaks just enough of the AWS JSON 1.1 protocol for `@aws-sdk/client-secrets-manager` (and so
 * Powertools Parameters) to read secrets through `AWS_ENDPOINT_URL_SECRETS_MANAGER`: `GetSecretValue` and
 * `DescribeSecret`, secrets looked up by name or ARN. No emulator for Secrets Manager is available here, and
 * the handlers only read one secret, so a small, read-only fake is all local mode needs.
 * Requests are not authenticated (SigV4 is ignored): it binds to loopback only.
 */

export interface FakeSecret {
  readonly name: string;
  /** The secret's `SecretString` (our secrets are JSON documents). */
  readonly value: string;
  readonly description?: string;
}

export interface SecretsManagerFakeOptions {
  readonly port: number;
  readonly host?: string;
  readonly region?: string;
  readonly accountId?: string;
  readonly secrets: readonly FakeSecret[];
}

export interface SecretsManagerFake {
  readonly endpoint: string;
  readonly port: number;
  /** The ARN the fake reports for a secret name (AWS appends `-` and six random characters). */
  arnOf(name: string): string;
  stop(): Promise<void>;
}

interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  readonly value: string;
  readonly description: string | undefined;
  readonly versionId: string;
  /** Epoch seconds: timestamps travel as numbers in the AWS JSON protocols. */
  readonly createdDate: number;
}

const MAX_REQUEST_BYTES = 64 * 1024;

/** A stable, UUID-shaped version id: the same value gives the same id across restarts. */
function versionIdOf(value: string): string {
  const hex = createHash('sha256').update(value).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The random-looking suffix AWS adds to secret ARNs, derived from the name so it is stable. */
function arnSuffix(name: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const digest = createHash('sha256').update(name).digest();
  return Array.from(digest.subarray(0, 6), (byte) => alphabet[byte % alphabet.length]).join('');
}

export async function startSecretsManagerFake(
  options: SecretsManagerFakeOptions,
): Promise<SecretsManagerFake> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const arnOf = (name: string) =>
    `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${arnSuffix(name)}`;
  const createdDate = Math.floor(Date.now() / 1000);

  const byName = new Map<string, StoredSecret>();
  const byArn = new Map<string, StoredSecret>();
  for (const secret of options.secrets) {
    const stored: StoredSecret = {
      arn: arnOf(secret.name),
      name: secret.name,
      value: secret.value,
      description: secret.description,
      versionId: versionIdOf(secret.value),
      createdDate,
    };
    byName.set(stored.name, stored);
    byArn.set(stored.arn, stored);
  }

  function find(input: Record<string, unknown>): StoredSecret {
    const id = input.SecretId;
    if (typeof id !== 'string' || id.length === 0) {
      throw new AwsJsonError('InvalidParameterException', 'SecretId is required');
    }
    // AWS also accepts a "partial ARN" (the ARN without its random suffix).
    const secret =
      byName.get(id) ??
      byArn.get(id) ??
      [...byArn.values()].find((s) => s.arn === `${id}-${arnSuffix(s.name)}`);
    if (!secret)
      throw new AwsJsonError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  const actions: Record<string, AwsJsonAction> = {
    GetSecretValue(input) {
      const secret = find(input);
      const { VersionId, VersionStage } = input;
      if (
        (VersionId !== undefined && VersionId !== secret.versionId) ||
        (VersionStage !== undefined && VersionStage !== 'AWSCURRENT')
      ) {
        throw new AwsJsonError(
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret value for the requested version.",
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: secret.value,
        VersionId: secret.versionId,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: secret.createdDate,
      };
    },
    DescribeSecret(input) {
      const secret = find(input);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description ? { Description: secret.description } : {}),
        CreatedDate: secret.createdDate,
        LastChangedDate: secret.createdDate,
        VersionIdsToStages: { [secret.versionId]: ['AWSCURRENT'] },
      };
    },
  };

  const handle = awsJsonHandler({
    targetPrefix: 'secretsmanager',
    actions,
    maxRequestBytes: MAX_REQUEST_BYTES,
    internalErrorType: 'InternalServiceError',
  });
  const server = createServer((req, res) => void handle(req, res));
  const port = await listen(server, options.port, host);
  return {
    endpoint: `http://${host}:${port}`,
    port,
    arnOf,
    stop: () => closeServer(server),
  };
}
