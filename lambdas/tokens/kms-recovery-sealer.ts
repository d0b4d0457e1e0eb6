import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { RECOVERY_TOKEN_TYPE } from '../../contracts/index.js';
import type { GrantRecord } from './grant.js';
import {
  readSealedTokens,
  recoveryAad,
  RecoveryMessageError,
  type RecoverySealer,
  type SealedRotation,
} from './token-recovery.js';

/**
 * Envelope encryption of a parked pair (docs/design.md, "A rotated pair that cannot be stored"). The data key
 * is generated under the token key BEFORE the exchange, with the grant's encryption context and tokenType
 * `recovery`; the pair is then sealed locally with AES-256-GCM, so parking works while KMS is what is down.
 * The cleartext fields of the message are the GCM additional data: none can be altered.
 */

const IV_BYTES = 12;

function recoveryContext(grant: Pick<GrantRecord, 'grantId' | 'appUserId'>): Record<string, string> {
  return { grantId: grant.grantId, appUserId: grant.appUserId, tokenType: RECOVERY_TOKEN_TYPE };
}

export function kmsRecoverySealer(kms: KMSClient, keyId: string): RecoverySealer {
  return {
    async prepare(grant) {
      const result = await kms.send(
        new GenerateDataKeyCommand({
          KeyId: keyId,
          KeySpec: 'AES_256',
          EncryptionContext: recoveryContext(grant),
        }),
      );
      if (!result.Plaintext || !result.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
      const key = Buffer.from(result.Plaintext);
      const dataKey = Buffer.from(result.CiphertextBlob).toString('base64');
      return {
        seal(parked, tokens) {
          if (parked.grantId !== grant.grantId || parked.appUserId !== grant.appUserId) {
            throw new Error('a pair seal is bound to the grant it was prepared for');
          }
          const iv = randomBytes(IV_BYTES);
          const cipher = createCipheriv('aes-256-gcm', key, iv);
          cipher.setAAD(recoveryAad(parked));
          const plaintext = JSON.stringify({
            accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken,
          });
          const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
          return {
            v: 1,
            ...parked,
            dataKey,
            iv: iv.toString('base64'),
            tag: cipher.getAuthTag().toString('base64'),
            ciphertext: ciphertext.toString('base64'),
          };
        },
        discard() {
          key.fill(0);
        },
      };
    },

    async open(message: SealedRotation) {
      let key: Buffer;
      try {
        const result = await kms.send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(message.dataKey, 'base64'),
            EncryptionContext: recoveryContext(message),
            // Pinned to the configured key: a forged message cannot bring its own key.
            KeyId: keyId,
          }),
        );
        if (!result.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
        key = Buffer.from(result.Plaintext);
      } catch (error) {
        if (error instanceof InvalidCiphertextException || error instanceof IncorrectKeyException) {
          throw new RecoveryMessageError(`the data key of grant ${message.grantId} does not decrypt`, {
            cause: error,
          });
        }
        throw error;
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(message.iv, 'base64'));
        decipher.setAAD(recoveryAad(message));
        decipher.setAuthTag(Buffer.from(message.tag, 'base64'));
        const plaintext = Buffer.concat([
          decipher.update(Buffer.from(message.ciphertext, 'base64')),
          decipher.final(),
        ]).toString('utf8');
        return readSealedTokens(plaintext);
      } catch (error) {
        if (error instanceof RecoveryMessageError) throw error;
        throw new RecoveryMessageError(`the parked pair of grant ${message.grantId} is not authentic`, {
          cause: error,
        });
      } finally {
        key.fill(0);
      }
    },
  };
}
