import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
// Placeholder written at creation; the operator replaces it with `aws secretsmanager put-secret-value`. The
// Lambdas refuse it (fail closed), so it is the same constant on both sides.
import { SECRET_PLACEHOLDER } from '../../lambdas/smartcar/secret-placeholder.js';

export { SECRET_PLACEHOLDER };

export interface SmartcarSecretProps {
  /** Use this existing secret (complete ARN, with the 6-character suffix) instead of creating one. */
  readonly existingSecretArn?: string;
  /** Use this existing secret (by name) instead of creating one. Mutually exclusive with the ARN. */
  readonly existingSecretName?: string;
  /** Of a created secret: RETAIN keeps the credentials after the stack is gone. @default RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The Smartcar application's credentials: one Secrets Manager secret holding the JSON
 * `{clientId, clientSecret, managementToken, previousManagementToken?}` (docs/design.md).
 *
 * Either created with placeholder values (so no credential is ever in the template, the synthesized
 * assembly or an environment variable) or imported. Lambdas receive only `secretId` and read the value
 * at runtime.
 */
export class SmartcarSecret extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** What the Lambdas get as `SMARTCAR_SECRET_ID`: the secret's ARN, or its name when imported by name. */
  readonly secretId: string;
  /** Whether the stack created (and owns) the secret. */
  readonly created: boolean;
  /** The ARN (pattern) that IAM statements must name to cover this secret. */
  private readonly policyArn: string;

  constructor(scope: Construct, id: string, props: SmartcarSecretProps = {}) {
    super(scope, id);

    if (props.existingSecretArn && props.existingSecretName) {
      throw new Error('SmartcarSecret: set either existingSecretArn or existingSecretName, not both');
    }

    if (props.existingSecretArn) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Imported', props.existingSecretArn);
      this.secretId = this.secret.secretArn;
      this.policyArn = this.secret.secretArn;
      this.created = false;
    } else if (props.existingSecretName) {
      this.secret = secretsmanager.Secret.fromSecretNameV2(this, 'Imported', props.existingSecretName);
      // The name, not the partial ARN: GetSecretValue resolves a name unambiguously.
      this.secretId = props.existingSecretName;
      // A secret's real ARN ends with "-" and 6 random characters that the name does not tell us.
      this.policyArn = `${this.secret.secretArn}-??????`;
      this.created = false;
    } else {
      const secret = new secretsmanager.Secret(this, 'Secret', {
        description:
          'Smartcar application credentials (JSON: clientId, clientSecret, managementToken, ' +
          'previousManagementToken?). Created with placeholders; put the real values in after deploying.',
        // CloudFormation only generates this at creation: values put in later are never overwritten
        // by a redeploy. The template holds just the placeholder JSON, never a credential.
        generateSecretString: {
          secretStringTemplate: JSON.stringify({
            clientId: SECRET_PLACEHOLDER,
            clientSecret: SECRET_PLACEHOLDER,
            managementToken: SECRET_PLACEHOLDER,
          }),
          // Secrets Manager insists on generating one key; it is unused and ignored by the Lambdas.
          generateStringKey: 'placeholderNonce',
          excludePunctuation: true,
          passwordLength: 16,
        },
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
        // Encrypted with the AWS-managed aws/secretsmanager key (default): readers then need only
        // secretsmanager:GetSecretValue and no KMS permission, and the key policy cannot be misconfigured.
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The Application Management Token and client secret are issued and rotated in the Smartcar ' +
          'dashboard, not by an AWS rotation Lambda; the secret keeps previousManagementToken so a ' +
          'rotation loses no webhook, and the Lambdas re-read the secret every 5 minutes.',
      });
      this.secret = secret;
      this.secretId = secret.secretArn;
      this.policyArn = secret.secretArn;
      this.created = true;
    }
  }

  /** Allows exactly `secretsmanager:GetSecretValue` on this secret (nothing else, no other secret). */
  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.policyArn] }),
    );
  }
}
