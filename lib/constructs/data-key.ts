import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * A customer-managed key that outlives the stack: yearly automatic rotation of the key material (cdk-nag KMS5;
 * old versions still decrypt old data), RETAIN, and if someone schedules deletion by hand, the maximum window
 * to notice and cancel it. For keys whose data is retained with the stack.
 */
export function retainedKey(scope: Construct, props: DataKeyProps): kms.Key {
  return new kms.Key(scope, 'Key', {
    alias: props.alias,
    description: props.description,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
    pendingWindow: Duration.days(30),
  });
}

export interface DataKeyProps {
  /** Alias without the `alias/` prefix, e.g. `Smartcar-dev/data`. */
  readonly alias: string;
  readonly description: string;
}

/**
 * The customer-managed KMS key (CMK) that encrypts the stack's data at rest (the DynamoDB tables).
 *
 * A CMK instead of the AWS-owned DynamoDB key, because with a CMK every decrypt is authorised by our
 * IAM policies and logged in CloudTrail, and access can be revoked by disabling the key.
 */
export class DataKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: DataKeyProps) {
    super(scope, id);

    // RETAIN: the vehicle-state table is retained when the stack is deleted, and a retained table is
    // unreadable (and its PITR backups unrestorable) once its key is gone. Never delete this key with
    // the stack.
    this.key = retainedKey(this, props);
  }
}
