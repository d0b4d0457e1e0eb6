import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsFake, type KmsFake } from '../../local/stand-ins/kms.js';
import { freePort } from '../support/ports.js';

/** The KMS fake driven by the real `@aws-sdk/client-kms` over loopback. */

const ALIAS = 'alias/smartcar-token-store';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const CONTEXT = { purpose: 'smartcar-refresh-token', userId: 'user-1' };
const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');

let kms: KmsFake;
let client: KMSClient;
const tempDir = mkdtempSync(join(tmpdir(), 'kms-fake-'));

const clientFor = (fake: KmsFake) =>
  new KMSClient({ region: fake.region, endpoint: fake.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });

beforeAll(async () => {
  kms = await startKmsFake({ port: await freePort() });
  client = clientFor(kms);
});

afterAll(async () => {
  client?.destroy();
  await kms?.stop();
  rmSync(tempDir, { recursive: true, force: true });
});

async function encrypt(plaintext: string, context: Record<string, string> | undefined, target = client) {
  const out = await target.send(
    new EncryptCommand({ KeyId: ALIAS, Plaintext: Buffer.from(plaintext), EncryptionContext: context }),
  );
  expect(out.CiphertextBlob).toBeInstanceOf(Uint8Array);
  return out.CiphertextBlob ?? new Uint8Array();
}

describe('Encrypt / Decrypt', () => {
  it('round-trips with an encryption context (key order does not matter) and reports the key ARN', async () => {
    const blob = await encrypt('refresh-token-value', CONTEXT);
    // Opaque: the plaintext does not appear in the blob.
    expect(Buffer.from(blob).includes(Buffer.from('refresh-token-value'))).toBe(false);

    const out = await client.send(
      new DecryptCommand({
        CiphertextBlob: blob,
        EncryptionContext: { userId: 'user-1', purpose: 'smartcar-refresh-token' },
      }),
    );
    expect(text(out.Plaintext)).toBe('refresh-token-value');
    expect(out.KeyId).toBe(kms.keyArn(ALIAS));
    expect(out.KeyId).toMatch(/^arn:aws:kms:us-east-1:000000000000:key\/[0-9a-f-]{36}$/);
    expect(kms.calls.at(-1)).toMatchObject({ operation: 'Decrypt', status: 200, encryptionContext: CONTEXT });
  });

  it('encrypts twice to different blobs', async () => {
    expect(
      Buffer.from(await encrypt('same', CONTEXT)).equals(Buffer.from(await encrypt('same', CONTEXT))),
    ).toBe(false);
  });

  it.each([
    ['a different context', { ...CONTEXT, userId: 'user-2' }],
    ['an extra context entry', { ...CONTEXT, extra: 'x' }],
    ['no context', undefined],
  ])('rejects Decrypt with %s (InvalidCiphertextException)', async (_label, context) => {
    const blob = await encrypt('secret', CONTEXT);
    const error: unknown = await client
      .send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCiphertextException);
    expect((error as InvalidCiphertextException).$metadata.httpStatusCode).toBe(400);
  });

  it('rejects a blob encrypted without context when a context is given', async () => {
    const blob = await encrypt('secret', undefined);
    await expect(client.send(new DecryptCommand({ CiphertextBlob: blob }))).resolves.toBeDefined();
    await expect(
      client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT })),
    ).rejects.toBeInstanceOf(InvalidCiphertextException);
  });

  it('rejects tampered or truncated ciphertext (InvalidCiphertextException)', async () => {
    const blob = Buffer.from(await encrypt('secret', CONTEXT));
    for (const index of [0, 10, blob.length - 20, blob.length - 1]) {
      const tampered = Buffer.from(blob);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      await expect(
        client.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: CONTEXT })),
      ).rejects.toBeInstanceOf(InvalidCiphertextException);
    }
    await expect(
      client.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, 30), EncryptionContext: CONTEXT })),
    ).rejects.toBeInstanceOf(InvalidCiphertextException);
  });

  it('rejects Decrypt naming another key (IncorrectKeyException)', async () => {
    const blob = await encrypt('secret', CONTEXT);
    await expect(
      client.send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT, KeyId: 'alias/other' }),
      ),
    ).rejects.toBeInstanceOf(IncorrectKeyException);
    // The right key, by ARN, is fine.
    const out = await client.send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT, KeyId: kms.keyArn(ALIAS) }),
    );
    expect(text(out.Plaintext)).toBe('secret');
  });
});

describe('GenerateDataKey / DescribeKey', () => {
  it('returns a data key whose ciphertext decrypts to the same key', async () => {
    const out = await client.send(
      new GenerateDataKeyCommand({ KeyId: ALIAS, KeySpec: 'AES_256', EncryptionContext: CONTEXT }),
    );
    expect(out.Plaintext).toHaveLength(32);
    expect(out.KeyId).toBe(kms.keyArn(ALIAS));
    const decrypted = await client.send(
      new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: CONTEXT }),
    );
    expect(Buffer.from(decrypted.Plaintext ?? []).equals(Buffer.from(out.Plaintext ?? []))).toBe(true);
    await expect(
      client.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob })),
    ).rejects.toBeInstanceOf(InvalidCiphertextException);
  });

  it('describes a key by alias', async () => {
    const out = await client.send(new DescribeKeyCommand({ KeyId: ALIAS }));
    expect(out.KeyMetadata).toMatchObject({
      Arn: kms.keyArn(ALIAS),
      Enabled: true,
      KeyState: 'Enabled',
      KeyUsage: 'ENCRYPT_DECRYPT',
    });
    expect(out.KeyMetadata?.CreationDate).toBeInstanceOf(Date);
  });

  it('is reachable through AWS_ENDPOINT_URL_KMS', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_KMS;
    process.env.AWS_ENDPOINT_URL_KMS = kms.endpoint;
    try {
      const viaEnv = new KMSClient({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      const out = await viaEnv.send(new DescribeKeyCommand({ KeyId: ALIAS }));
      expect(out.KeyMetadata?.Arn).toBe(kms.keyArn(ALIAS));
      viaEnv.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_KMS;
      else process.env.AWS_ENDPOINT_URL_KMS = saved;
    }
  });

  it('injects failures', async () => {
    kms.failNext('Encrypt', 'ThrottlingException');
    await expect(encrypt('x', CONTEXT)).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(encrypt('x', CONTEXT)).resolves.toBeDefined();
  });
});

describe('key restrictions and persistence', () => {
  it('only knows the configured keys when a list is given', async () => {
    const restricted = await startKmsFake({ port: await freePort(), keys: [ALIAS] });
    const restrictedClient = clientFor(restricted);
    try {
      await expect(encrypt('x', CONTEXT, restrictedClient)).resolves.toBeDefined();
      await expect(
        restrictedClient.send(new EncryptCommand({ KeyId: 'alias/unknown', Plaintext: Buffer.from('x') })),
      ).rejects.toBeInstanceOf(NotFoundException);
    } finally {
      restrictedClient.destroy();
      await restricted.stop();
    }
  });

  it('keeps ciphertexts decryptable across restarts with masterKeyFile', async () => {
    const masterKeyFile = join(tempDir, 'nested', 'kms-master.key');
    const first = await startKmsFake({ port: await freePort(), masterKeyFile });
    const firstClient = clientFor(first);
    const blob = await encrypt('survives restarts', CONTEXT, firstClient);
    firstClient.destroy();
    await first.stop();

    expect(Buffer.from(readFileSync(masterKeyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(statSync(masterKeyFile).mode & 0o777).toBe(0o600);

    const second = await startKmsFake({ port: await freePort(), masterKeyFile });
    const secondClient = clientFor(second);
    try {
      const out = await secondClient.send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT }),
      );
      expect(text(out.Plaintext)).toBe('survives restarts');
    } finally {
      secondClient.destroy();
      await second.stop();
    }

    // Without the file, a fresh random master key cannot open it.
    await expect(
      client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT })),
    ).rejects.toBeInstanceOf(InvalidCiphertextException);
  });
});
