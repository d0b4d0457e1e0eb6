import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { AwsJsonError, awsJsonHandler } from './aws-json-protocol.js';
import { closeServer, httpOrigin, listen } from '../loopback-server.js';

/**
 * A loopback stand-in for the AWS KMS operations the token store uses, for tests and local mode only.
 *
 * It speaks the KMS JSON 1.1 protocol (`X-Amz-Target: TrentService.<Operation>`, binary fields as base64), so
 * the real `@aws-sdk/client-kms` works against it through `AWS_ENDPOINT_URL_KMS` or the client's `endpoint`
 * option: `Encrypt`, `Decrypt`, `GenerateDataKey`, `GenerateDataKeyWithoutPlaintext`, `DescribeKey`.
 *
 * What is faithful because security tests depend on it:
 * - The encryption context is authenticated, not stored: it is the AES-256-GCM additional data (as canonical
 *   JSON, key order irrelevant), so `Decrypt` with a different or missing context, or any tampering with the
 *   blob, fails with `InvalidCiphertextException`. A missing context and `{}` are the same, as in KMS.
 * - Ciphertext blobs are opaque but carry the key id, so `Decrypt` needs no `KeyId` and returns the key ARN;
 *   a `KeyId` that does not match the blob fails with `IncorrectKeyException`.
 * - Keys are addressed by key id, key ARN, alias name or alias ARN; aliases map to a key id derived from the
 *   alias, so they resolve the same way after a restart.
 *
 * Keys are created on demand (or restricted to `options.keys`). Their material is derived (HKDF) from one
 * master key: random per process, or read from `masterKeyFile` so that ciphertexts kept in a persistent local
 * DynamoDB still decrypt after a restart. Requests are not authenticated (SigV4 is ignored): loopback only.
 * Not KMS-compatible ciphertext, not for real secrets.
 */

export type KmsOperation =
  'Encrypt' | 'Decrypt' | 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext' | 'DescribeKey';

export interface KmsFakeOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly region?: string;
  readonly accountId?: string;
  /**
   * Where the 32-byte master key lives (base64 text). Created with a random key on first start (mode 0600),
   * reused afterwards. Without it the master key is random per process.
   */
  readonly masterKeyFile?: string;
  /** Only these key ids / ARNs / aliases exist; others answer `NotFoundException`. Default: any. */
  readonly keys?: readonly string[];
}

export interface KmsFakeCall {
  readonly operation: string;
  readonly status: number;
  /** ARN of the key used, when one was resolved. */
  readonly keyArn?: string;
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /** The `__type` of the error answered, if any. */
  readonly error?: string;
}

/** A time window in which KMS is down (tests and drills of the token rotation's fallback). */
export interface KmsOutage {
  /** Epoch ms on `clock` until which requests fail. */
  readonly until: number;
  /** The clock the window is on (a test's simulated clock); default Date.now. */
  readonly clock?: () => number;
  /**
   * `error` (default): answered at once with `errorType` (default `KMSInternalException`, HTTP 500).
   * `hang`: not answered until the window has passed (checked every 20 ms of real time): a client without a
   * request timeout waits that long.
   */
  readonly mode?: 'error' | 'hang';
  readonly errorType?: string;
  /** Default: every operation. */
  readonly operations?: readonly KmsOperation[];
}

export interface KmsFake {
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  /** The ARN a key id, key ARN, alias or alias ARN resolves to. */
  keyArn(keyIdOrAlias: string): string;
  readonly calls: readonly KmsFakeCall[];
  clearCalls(): void;
  /** Makes the next request for `operation` fail with an AWS error (e.g. `ThrottlingException`, 400). */
  failNext(operation: KmsOperation, errorType: string, status?: number): void;
  /** Starts an outage window (replacing any other); null ends it. */
  setOutage(outage: KmsOutage | null): void;
  stop(): Promise<void>;
}

const MAX_REQUEST_BYTES = 256 * 1024;
/** Blob layout: MAGIC | key id length (1 byte) | key id (ASCII) | IV (12) | GCM tag (16) | ciphertext. */
const MAGIC = Buffer.from('FKMS1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MRK_PATTERN = /^mrk-[0-9a-f]{32}$/;
const ALIAS_PATTERN = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;

/** Reads the master key file, or creates it atomically (`wx`) so two processes starting together agree. */
async function loadMasterKey(file: string): Promise<Buffer> {
  const decode = (text: string) => {
    const key = Buffer.from(text.trim(), 'base64');
    // Never overwrite a bad file: that would silently orphan everything encrypted under the old key.
    if (key.length !== 32) throw new Error(`${file} does not hold a base64 32-byte key; fix or delete it`);
    return key;
  };
  try {
    return decode(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(file), { recursive: true });
  const key = randomBytes(32);
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(`${key.toString('base64')}\n`);
    } finally {
      await handle.close();
    }
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return decode(await readFile(file, 'utf8'));
  }
}

/** A UUID-shaped key id derived from an alias, stable across restarts. */
function keyIdForAlias(scope: string, alias: string): string {
  const hex = createHash('sha256').update(`${scope}\u0000${alias}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Validates an `EncryptionContext` (string → string) and returns it with keys sorted. */
function readContext(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AwsJsonError('ValidationException', 'EncryptionContext must be a map of strings');
  }
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(value).sort()) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item !== 'string' || key === '') {
      throw new AwsJsonError(
        'ValidationException',
        'EncryptionContext keys and values must be non-empty strings',
      );
    }
    sorted[key] = item;
  }
  return sorted;
}

/** Canonical bytes of a context: sorted [key, value] pairs as JSON, unambiguous whatever the content. */
function contextBytes(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context)), 'utf8');
}

function readBlob(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value === '')
    throw new AwsJsonError('ValidationException', `${field} is required`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    throw new AwsJsonError('SerializationException', `${field} is not base64`);
  return Buffer.from(value, 'base64');
}

function checkAlgorithm(input: Record<string, unknown>): void {
  const algorithm = input.EncryptionAlgorithm;
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw new AwsJsonError('InvalidKeyUsageException', `${String(algorithm)} is not supported by this key`);
  }
}

export async function startKmsFake(options: KmsFakeOptions): Promise<KmsFake> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const masterKey = options.masterKeyFile ? await loadMasterKey(options.masterKeyFile) : randomBytes(32);
  const createdAt = Math.floor(Date.now() / 1000);
  const calls: KmsFakeCall[] = [];
  const failures = new Map<string, { type: string; status: number }[]>();
  let outage: KmsOutage | null = null;
  const inOutage = (operation: string) =>
    outage !== null &&
    (outage.operations === undefined || outage.operations.some((name) => name === operation)) &&
    (outage.clock ?? Date.now)() < outage.until;

  const arnOfKey = (keyId: string) => `arn:aws:kms:${region}:${accountId}:key/${keyId}`;

  /** Any accepted key reference → key id (UUID); throws NotFoundException for the rest. */
  function resolveKeyId(reference: unknown): string {
    if (typeof reference !== 'string' || reference === '')
      throw new AwsJsonError('ValidationException', 'KeyId is required');
    let local = reference;
    if (reference.startsWith('arn:')) {
      const match = reference.match(/^arn:aws[a-z-]*:kms:([^:]+):(\d{12}):((?:key|alias)\/.+)$/);
      if (!match || match[1] !== region || match[2] !== accountId || match[3] === undefined) {
        throw new AwsJsonError('NotFoundException', `Invalid arn ${reference}`);
      }
      local = match[3].replace(/^key\//, '');
    }
    if (ALIAS_PATTERN.test(local)) return keyIdForAlias(`${accountId}:${region}`, local);
    if (UUID_PATTERN.test(local) || MRK_PATTERN.test(local)) return local;
    throw new AwsJsonError('NotFoundException', `Invalid keyId ${reference}`);
  }

  const allowed = options.keys ? new Set(options.keys.map((k) => resolveKeyId(k))) : undefined;

  function keyFor(keyId: string): Buffer {
    if (allowed && !allowed.has(keyId)) {
      throw new AwsJsonError('NotFoundException', `Key '${arnOfKey(keyId)}' does not exist`);
    }
    // Per-key material derived from the master key: stable across restarts when the master key is.
    return Buffer.from(hkdfSync('sha256', masterKey, 'kms-fake/v1', keyId, 32));
  }

  function header(keyId: string): Buffer {
    const id = Buffer.from(keyId, 'ascii');
    return Buffer.concat([MAGIC, Buffer.from([id.length]), id]);
  }

  function seal(keyId: string, plaintext: Buffer, context: Record<string, string>): Buffer {
    const key = keyFor(keyId);
    const head = header(keyId);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    // The header is authenticated too, so swapping the key id inside a blob cannot go unnoticed.
    cipher.setAAD(Buffer.concat([head, contextBytes(context)]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([head, iv, cipher.getAuthTag(), body]);
  }

  function unseal(blob: Buffer, context: Record<string, string>): { keyId: string; plaintext: Buffer } {
    const invalid = () => new AwsJsonError('InvalidCiphertextException', '');
    if (blob.length < MAGIC.length + 1 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid();
    const idLength = blob[MAGIC.length] ?? 0;
    const idEnd = MAGIC.length + 1 + idLength;
    if (blob.length < idEnd + IV_BYTES + TAG_BYTES) throw invalid();
    const keyId = blob.subarray(MAGIC.length + 1, idEnd).toString('ascii');
    if (!UUID_PATTERN.test(keyId) && !MRK_PATTERN.test(keyId)) throw invalid();
    const key = keyFor(keyId);
    const iv = blob.subarray(idEnd, idEnd + IV_BYTES);
    const tag = blob.subarray(idEnd + IV_BYTES, idEnd + IV_BYTES + TAG_BYTES);
    const body = blob.subarray(idEnd + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.concat([blob.subarray(0, idEnd), contextBytes(context)]));
      decipher.setAuthTag(tag);
      return { keyId, plaintext: Buffer.concat([decipher.update(body), decipher.final()]) };
    } catch {
      // Same answer for a wrong context and a damaged blob, like KMS: nothing to learn from the difference.
      throw invalid();
    }
  }

  function dataKeyLength(input: Record<string, unknown>): number {
    const { KeySpec, NumberOfBytes } = input;
    if ((KeySpec === undefined) === (NumberOfBytes === undefined)) {
      throw new AwsJsonError('ValidationException', 'Specify either KeySpec or NumberOfBytes, but not both');
    }
    if (KeySpec === 'AES_256') return 32;
    if (KeySpec === 'AES_128') return 16;
    if (KeySpec !== undefined)
      throw new AwsJsonError('ValidationException', `Invalid KeySpec ${String(KeySpec)}`);
    if (
      typeof NumberOfBytes !== 'number' ||
      !Number.isInteger(NumberOfBytes) ||
      NumberOfBytes < 1 ||
      NumberOfBytes > 1024
    ) {
      throw new AwsJsonError('ValidationException', 'NumberOfBytes must be an integer between 1 and 1024');
    }
    return NumberOfBytes;
  }

  interface Outcome {
    readonly body: unknown;
    readonly keyArn?: string;
    readonly context?: Record<string, string>;
  }

  const operations: Record<KmsOperation, (input: Record<string, unknown>) => Outcome> = {
    Encrypt(input) {
      checkAlgorithm(input);
      const keyId = resolveKeyId(input.KeyId);
      const context = readContext(input.EncryptionContext);
      const plaintext = readBlob(input.Plaintext, 'Plaintext');
      if (plaintext.length > 4096)
        throw new AwsJsonError('ValidationException', 'Plaintext must be at most 4096 bytes');
      const blob = seal(keyId, plaintext, context);
      return {
        body: {
          CiphertextBlob: blob.toString('base64'),
          KeyId: arnOfKey(keyId),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        },
        keyArn: arnOfKey(keyId),
        context,
      };
    },
    Decrypt(input) {
      checkAlgorithm(input);
      const context = readContext(input.EncryptionContext);
      const blob = readBlob(input.CiphertextBlob, 'CiphertextBlob');
      const { keyId, plaintext } = unseal(blob, context);
      if (input.KeyId !== undefined && resolveKeyId(input.KeyId) !== keyId) {
        throw new AwsJsonError(
          'IncorrectKeyException',
          'The key ID in the request does not identify the key used to encrypt the ciphertext',
        );
      }
      return {
        body: {
          KeyId: arnOfKey(keyId),
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        },
        keyArn: arnOfKey(keyId),
        context,
      };
    },
    GenerateDataKey(input) {
      const keyId = resolveKeyId(input.KeyId);
      const context = readContext(input.EncryptionContext);
      const plaintext = randomBytes(dataKeyLength(input));
      const blob = seal(keyId, plaintext, context);
      return {
        body: {
          CiphertextBlob: blob.toString('base64'),
          Plaintext: plaintext.toString('base64'),
          KeyId: arnOfKey(keyId),
        },
        keyArn: arnOfKey(keyId),
        context,
      };
    },
    GenerateDataKeyWithoutPlaintext(input) {
      const keyId = resolveKeyId(input.KeyId);
      const context = readContext(input.EncryptionContext);
      const blob = seal(keyId, randomBytes(dataKeyLength(input)), context);
      return {
        body: { CiphertextBlob: blob.toString('base64'), KeyId: arnOfKey(keyId) },
        keyArn: arnOfKey(keyId),
        context,
      };
    },
    DescribeKey(input) {
      const keyId = resolveKeyId(input.KeyId);
      keyFor(keyId);
      return {
        body: {
          KeyMetadata: {
            AWSAccountId: accountId,
            KeyId: keyId,
            Arn: arnOfKey(keyId),
            CreationDate: createdAt,
            Enabled: true,
            Description: 'kms-fake key',
            KeyUsage: 'ENCRYPT_DECRYPT',
            KeyState: 'Enabled',
            Origin: 'AWS_KMS',
            KeyManager: 'CUSTOMER',
            CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
            KeySpec: 'SYMMETRIC_DEFAULT',
            EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
            MultiRegion: false,
          },
        },
        keyArn: arnOfKey(keyId),
      };
    },
  };

  /** Runs an operation and records it, before the answer goes out: a test that awaited the call sees it. */
  const recorded =
    (operation: string, run: (input: Record<string, unknown>) => Outcome) =>
    (input: Record<string, unknown>): unknown => {
      const outcome = run(input);
      calls.push({
        operation,
        status: 200,
        ...(outcome.keyArn !== undefined ? { keyArn: outcome.keyArn } : {}),
        ...(outcome.context !== undefined ? { encryptionContext: outcome.context } : {}),
      });
      return outcome.body;
    };

  const handle = awsJsonHandler({
    targetPrefix: 'TrentService',
    actions: Object.fromEntries(Object.entries(operations).map(([name, run]) => [name, recorded(name, run)])),
    maxRequestBytes: MAX_REQUEST_BYTES,
    internalErrorType: 'KMSInternalException',
    beforeAction: async (operation) => {
      const failure = failures.get(operation)?.shift();
      if (failure) throw new AwsJsonError(failure.type, 'injected by kms-fake', failure.status);
      if (!inOutage(operation)) return;
      if (outage?.mode !== 'hang') {
        throw new AwsJsonError(
          outage?.errorType ?? 'KMSInternalException',
          'outage injected by kms-fake',
          500,
        );
      }
      while (inOutage(operation)) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    onError: (operation, failure) => {
      calls.push({ operation, status: failure.status, error: failure.type });
    },
  });

  const server = createServer((req, res) => void handle(req, res));
  const port = await listen(server, options.port, host);
  return {
    endpoint: httpOrigin(host, port),
    port,
    region,
    accountId,
    keyArn: (reference) => arnOfKey(resolveKeyId(reference)),
    calls,
    clearCalls: () => {
      calls.length = 0;
    },
    failNext: (operation, errorType, status = 400) => {
      const list = failures.get(operation) ?? [];
      list.push({ type: errorType, status });
      failures.set(operation, list);
    },
    setOutage: (next) => {
      outage = next;
    },
    stop: () => {
      outage = null;
      return closeServer(server);
    },
  };
}
