import {
  DecryptCommand,
  EncryptCommand,
  InvalidCiphertextException,
  IncorrectKeyException,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { tokenEncryptionContext as contextOf } from '../../contracts/index.js';
import { TokenDecryptionError } from './grant.js';
import type { TokenCipher } from './token-cipher.js';

/** KMS Encrypt/Decrypt of tokens (< 4 KB, so no envelope encryption is needed). */
export function kmsTokenCipher(kms: KMSClient, keyId: string): TokenCipher {
  return {
    async encrypt(plaintext, context) {
      const result = await kms.send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: Buffer.from(plaintext, 'utf8'),
          EncryptionContext: contextOf(context),
        }),
      );
      if (!result.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
      return {
        ciphertext: Buffer.from(result.CiphertextBlob).toString('base64'),
        keyId: result.KeyId ?? keyId,
      };
    },
    async decrypt(ciphertext, context) {
      try {
        const result = await kms.send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(ciphertext, 'base64'),
            EncryptionContext: contextOf(context),
            // Pinned to the configured key, not the item's `keyId`: KMS then refuses a blob made under any other
            // key, so a forged item cannot bring its own key. (KMS key rotation keeps the key id.)
            KeyId: keyId,
          }),
        );
        if (!result.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
        return Buffer.from(result.Plaintext).toString('utf8');
      } catch (error) {
        if (error instanceof InvalidCiphertextException || error instanceof IncorrectKeyException) {
          throw new TokenDecryptionError(context.grantId, context.tokenType, { cause: error });
        }
        throw error;
      }
    },
  };
}
