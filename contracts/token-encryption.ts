/**
 * The encryption context every token ciphertext is bound to (docs/design.md, token table): the KMS cipher in
 * lambdas/tokens passes it on every Encrypt/Decrypt, and the token key's IAM conditions
 * (lib/constructs/token-key.ts) allow direct cryptography only with exactly this context.
 */

export const TOKEN_ENCRYPTION_CONTEXT_KEYS = ['grantId', 'appUserId', 'tokenType'] as const;
export const TOKEN_TYPES = ['access', 'refresh'] as const;

export type TokenType = (typeof TOKEN_TYPES)[number];
export type TokenEncryptionContextKey = (typeof TOKEN_ENCRYPTION_CONTEXT_KEYS)[number];

/** What a token ciphertext is bound to: its grant, the grant's app user and which of the two tokens it is. */
export interface TokenContext {
  readonly grantId: string;
  readonly appUserId: string;
  readonly tokenType: TokenType;
}

/** The KMS EncryptionContext of a token: exactly the keys of TOKEN_ENCRYPTION_CONTEXT_KEYS. */
export function tokenEncryptionContext(context: TokenContext): Record<TokenEncryptionContextKey, string> {
  return { grantId: context.grantId, appUserId: context.appUserId, tokenType: context.tokenType };
}

/**
 * The `tokenType` of a parked rotation's data key (lambdas/tokens/kms-recovery-sealer.ts): same grant and app
 * user as the tokens, its own type, so a recovery data key never decrypts as a token and the other way round.
 */
export const RECOVERY_TOKEN_TYPE = 'recovery';
