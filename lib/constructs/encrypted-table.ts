import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface EncryptedTableProps {
  /** Name of the string partition key. */
  readonly partitionKey: string;
  /** Name of the string sort key, if the table has one. */
  readonly sortKey?: string;
  /** Attribute holding the expiry in epoch seconds; DynamoDB deletes expired items for free. */
  readonly timeToLiveAttribute: string;
  /** The customer-managed key that encrypts the table (and its backups). */
  readonly encryptionKey: kms.IKey;
  /** Required on purpose: every table decides explicitly what happens to its data on stack deletion. */
  readonly removalPolicy: RemovalPolicy;
  /** Blocks DeleteTable (also by CloudFormation) until it is switched off again. */
  readonly deletionProtection?: boolean;
}

/** Item-level read actions. No Scan: every access pattern of docs/design.md is a key lookup or a Query. */
const READ_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
/** Item-level write actions (ConditionCheckItem for conditions inside TransactWriteItems). No table admin. */
const WRITE_ITEM_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

/**
 * A DynamoDB table with the project's data defaults: on-demand billing, encryption with the stack's
 * CMK, point-in-time recovery and TTL. Grants are item-level only, never table administration.
 */
export class EncryptedTable extends Construct {
  readonly table: dynamodb.Table;
  private readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: EncryptedTableProps) {
    super(scope, id);
    this.encryptionKey = props.encryptionKey;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: props.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: props.sortKey ? { name: props.sortKey, type: dynamodb.AttributeType.STRING } : undefined,
      // On-demand: webhook traffic is bursty and unpredictable (fleet size, OEM polling); nothing to
      // capacity-plan and nothing to pay while idle.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Customer-managed key, see DataKey for why.
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      // PITR: restore to any second of the last 35 days after a bad deploy or a buggy write (cdk-nag DDB3).
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: props.timeToLiveAttribute,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.deletionProtection,
    });
  }

  /** Read items (GetItem/BatchGetItem/Query) and decrypt them. */
  grantReadItems(grantee: iam.IGrantable): void {
    this.addItemStatement(grantee, READ_ITEM_ACTIONS);
    this.addKeyStatement(grantee, ['kms:Decrypt']);
  }

  /** Read and write items (no Scan, no table administration) and use the key for both directions. */
  grantReadWriteItems(grantee: iam.IGrantable): void {
    this.addItemStatement(grantee, [...READ_ITEM_ACTIONS, ...WRITE_ITEM_ACTIONS]);
    this.addKeyStatement(grantee, ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']);
  }

  private addItemStatement(grantee: iam.IGrantable, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      // The table ARN only: the tables have no indexes or streams to cover.
      new iam.PolicyStatement({ actions, resources: [this.table.tableArn] }),
    );
  }

  private addKeyStatement(grantee: iam.IGrantable, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [this.encryptionKey.keyArn],
        // The key may be used only through DynamoDB, never directly (e.g. to decrypt exfiltrated data).
        conditions: {
          StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}
