import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const JSON_11 = 'application/x-amz-json-1.1';
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new AwsError('ValidationException', 'request too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_11,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...extraHeaders,
  });
  res.end(text);
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
      throw new AwsError('InvalidParameterException', 'SecretId is required');
    }
    // AWS also accepts a "partial ARN" (the ARN without its random suffix).
    const secret =
      byName.get(id) ??
      byArn.get(id) ??
      [...byArn.values()].find((s) => s.arn === `${id}-${arnSuffix(s.name)}`);
    if (!secret)
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  const actions: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetSecretValue(input) {
      const secret = find(input);
      const { VersionId, VersionStage } = input;
      if (
        (VersionId !== undefined && VersionId !== secret.versionId) ||
        (VersionStage !== undefined && VersionStage !== 'AWSCURRENT')
      ) {
        throw new AwsError(
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST')
        throw new AwsError('UnknownOperationException', 'only POST is supported', 404);
      const target = req.headers['x-amz-target'];
      const operation = typeof target === 'string' ? target.replace(/^secretsmanager\./, '') : '';
      const action = Object.hasOwn(actions, operation) ? actions[operation] : undefined;
      if (!action)
        throw new AwsError('UnknownOperationException', `operation not supported locally: ${operation}`);
      const text = await readBody(req);
      let input: unknown;
      try {
        input = text === '' ? {} : JSON.parse(text);
      } catch {
        throw new AwsError('SerializationException', 'request body is not JSON');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new AwsError('SerializationException', 'request body must be a JSON object');
      }
      send(res, 200, action(input as Record<string, unknown>));
    } catch (error) {
      const failure =
        error instanceof AwsError ? error : new AwsError('InternalServiceError', String(error), 500);
      send(
        res,
        failure.status,
        { __type: failure.type, message: failure.message },
        {
          'x-amzn-errortype': failure.type,
        },
      );
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    arnOf,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
