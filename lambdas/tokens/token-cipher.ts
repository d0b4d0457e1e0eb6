import type { TokenContext } from './grant.js';

/**
 * Each token is encrypted under the encryption context `{grantId, appUserId, tokenType}`. KMS authenticates the
 * context, so a ciphertext copied to another grant, another user or the other field does not decrypt.
 */
export interface TokenCipher {
  encrypt(plaintext: string, context: TokenContext): Promise<{ ciphertext: string; keyId: string }>;
  /** Throws TokenDecryptionError when the ciphertext does not belong to this context (or is damaged). */
  decrypt(ciphertext: string, context: TokenContext): Promise<string>;
}
