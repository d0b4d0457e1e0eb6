import { Lazy, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { retainedKey } from './data-key.js';
import { RECOVERY_TOKEN_TYPE, TOKEN_ENCRYPTION_CONTEXT_KEYS, TOKEN_TYPES } from '../../contracts/index.js';

export interface TokenKeyProps {
  /** Alias without the `alias/` prefix, e.g. `Smartcar-dev/tokens`. */
  readonly alias: string;
  readonly description: string;
  /** @default RETAIN (see retainedKey) */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What a token Lambda may do with the key directly. No GenerateDataKey: tokens are a few hundred bytes
 * and are encrypted with kms:Encrypt itself (no envelope encryption), and no ReEncrypt. (The one envelope, a
 * parked rotation's seal, has its own grant: grantRecoveryCrypto.)
 */
export type TokenCryptoAction = 'kms:Encrypt' | 'kms:Decrypt';

/**
 * The CMK for Smartcar OAuth tokens, separate from the data key: it encrypts each access/refresh token
 * (application-level, with `kms:Encrypt`) and the token table at rest.
 *
 * Separate, because whoever can decrypt a refresh token can act as the vehicle owner towards Smartcar
 * (unlock, locate, ...) for 60 days, which is a much bigger blast radius than reading vehicle state. A
 * key of its own lets the key policy name the few roles that may decrypt, makes every token decrypt a
 * distinct CloudTrail event, and can be disabled on its own to freeze all tokens in an incident.
 *
 * Who can do what:
 * - Direct encrypt/decrypt: only the roles passed to `grantTokenCrypto` (the OAuth callback: encrypt; the
 *   token-refresh job: decrypt and encrypt, plus data keys for parked rotations, tokenType `recovery`; the
 *   Lambdas that refresh on demand: decrypt and encrypt, plus sealing data keys only), and their IAM
 *   statements only match the token encryption context.
 * - Through DynamoDB (the token table's encryption at rest): whoever IAM allows item access to the token
 *   table. That only ever yields the KMS ciphertext blobs of the tokens, which need a direct Decrypt.
 * - The key policy enforces the first point for the whole account (see below), so a future role that is
 *   given `kms:*` on `*` by mistake still cannot decrypt a token.
 */
export class TokenKey extends Construct {
  readonly key: kms.Key;
  private readonly directUsers: iam.IRole[] = [];

  constructor(scope: Construct, id: string, props: TokenKeyProps) {
    super(scope, id);
    const region = Stack.of(this).region;

    // RETAIN: the token table is retained with the stack and is worthless without this key; losing it
    // would force every vehicle owner through Smartcar Connect again.
    this.key = retainedKey(this, props);

    // The default key policy (account root: kms:*) delegates to IAM, so any principal of the account with
    // an over-broad IAM policy could decrypt tokens. This Deny narrows direct cryptography to the token
    // Lambdas. Not denied, and why:
    // - calls made through DynamoDB (kms:ViaService): the token table's encryption at rest for whoever IAM
    //   lets use the table, including CloudFormation creating it and operators restoring a backup; it only
    //   reveals token ciphertexts;
    // - AWS service principals: DynamoDB's own background use of the key through the grant it creates;
    // - key administration (DescribeKey, PutKeyPolicy, ScheduleKeyDeletion, ...): the account keeps full
    //   control of the key, so this statement can never lock anyone out of it (break glass = edit it).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDirectCryptoExceptTokenLambdas',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
        // In a key policy "*" means this key.
        resources: ['*'],
        // All three must hold for the Deny to apply.
        conditions: {
          StringNotEquals: { 'kms:ViaService': `dynamodb.${region}.amazonaws.com` },
          ArnNotEquals: {
            'aws:PrincipalArn': Lazy.list({ produce: () => this.directUsers.map((role) => role.roleArn) }),
          },
          Bool: { 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    );
    // An empty ArnNotEquals list would be an invalid policy (and would mean "nobody"): fail the synth.
    this.node.addValidation({
      validate: () =>
        this.directUsers.length === 0
          ? ['TokenKey: no role was granted token crypto (grantTokenCrypto)']
          : [],
    });
  }

  get keyArn(): string {
    return this.key.keyArn;
  }

  /**
   * Lets `role` call `actions` on the key directly, only for token ciphertexts: the encryption context
   * must consist of exactly grantId, appUserId and tokenType (access|refresh), contracts/token-encryption.ts. The role is also exempted
   * from the key policy's Deny. Use for the callback and the token-refresh job, nothing else.
   */
  grantTokenCrypto(role: iam.IRole, actions: readonly TokenCryptoAction[]): void {
    if (actions.length === 0) throw new Error('TokenKey.grantTokenCrypto: no actions');
    this.grantInContext(role, [...actions], [...TOKEN_TYPES]);
  }

  /**
   * Lets `role` generate and decrypt the data keys that seal a parked rotation (docs/design.md, "A rotated pair
   * that cannot be stored"): GenerateDataKey and Decrypt, with the token context's keys and tokenType
   * `recovery` only. For the token-refresh job, nothing else.
   */
  grantRecoveryCrypto(role: iam.IRole): void {
    this.grantInContext(role, ['kms:GenerateDataKey', 'kms:Decrypt'], [RECOVERY_TOKEN_TYPE]);
  }

  /**
   * Lets `role` seal a pair it parks (GenerateDataKey with tokenType `recovery`) but not open one (no Decrypt):
   * for the Lambdas whose getAccessToken refreshes on demand. Only the refresh job applies parked pairs.
   */
  grantRecoverySeal(role: iam.IRole): void {
    this.grantInContext(role, ['kms:GenerateDataKey'], [RECOVERY_TOKEN_TYPE]);
  }

  private grantInContext(role: iam.IRole, actions: string[], tokenTypes: string[]): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [this.key.keyArn],
        conditions: {
          // No context key other than these three ("ForAllValues" alone is also true for an empty context,
          // hence the Null conditions below) ...
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...TOKEN_ENCRYPTION_CONTEXT_KEYS] },
          // ... all three present ...
          Null: Object.fromEntries(
            TOKEN_ENCRYPTION_CONTEXT_KEYS.map((k) => [`kms:EncryptionContext:${k}`, 'false']),
          ),
          // ... and a known token type. Ciphertexts bound to another grant, user or field do not decrypt.
          StringEquals: { 'kms:EncryptionContext:tokenType': tokenTypes },
        },
      }),
    );
    if (!this.directUsers.includes(role)) this.directUsers.push(role);
  }
}
