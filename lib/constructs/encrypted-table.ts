import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { KeyAttribute, TableSchema } from '../../contracts/index.js';

/** A global secondary index with a string partition key. */
export interface TableIndex {
  readonly indexName: string;
  /** Name of the string partition key. */
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** @default 'string' */
  readonly sortKeyType?: 'string' | 'number';
  /**
   * Project the table and index keys plus only these attributes (INCLUDE; KEYS_ONLY when empty), instead of
   * every attribute.
   * @default every attribute (ALL)
   */
  readonly nonKeyAttributes?: readonly string[];
}

export interface EncryptedTableProps {
  /** Name of the string partition key. */
  readonly partitionKey: string;
  /** Name of the string sort key, if the table has one. */
  readonly sortKey?: string;
  /**
   * Attribute holding the expiry in epoch seconds; DynamoDB deletes expired items for free.
   * @default no TTL (items are deleted explicitly)
   */
  readonly timeToLiveAttribute?: string;
  /** The customer-managed key that encrypts the table (and its backups). */
  readonly encryptionKey: kms.IKey;
  /** Required on purpose: every table decides explicitly what happens to its data on stack deletion. */
  readonly removalPolicy: RemovalPolicy;
  /** Blocks DeleteTable (also by CloudFormation) until it is switched off again. */
  readonly deletionProtection?: boolean;
  /**
   * Point-in-time recovery. Turning it off fails cdk-nag (AwsSolutions-DDB3) until the caller
   * acknowledges it with the reason.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Global secondary indexes. CloudFormation can add or delete only ONE global secondary index per update
   * of an existing table: a change that adds (or removes) two at once fails the deployment and rolls back,
   * so once the table is deployed, index changes have to go out one deployment at a time.
   */
  readonly globalSecondaryIndexes?: readonly TableIndex[];
}

export type ItemReadAction = 'dynamodb:GetItem' | 'dynamodb:BatchGetItem' | 'dynamodb:Query';
/** Item-level writes (ConditionCheckItem for conditions inside TransactWriteItems). No table admin. */
export type ItemWriteAction =
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:BatchWriteItem'
  | 'dynamodb:ConditionCheckItem';
/**
 * What a role may be granted on a table. Scan only for the daily reconciliation's read of the token table
 * (every request path of docs/design.md is a key lookup or a Query). TransactWriteItems/TransactGetItems have
 * no IAM action of their own: DynamoDB authorises each item of a transaction against the action it performs
 * (UpdateItem, PutItem, ...).
 */
export type ItemAction = ItemReadAction | ItemWriteAction | 'dynamodb:Scan';

export const READ_ITEM_ACTIONS: readonly ItemReadAction[] = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
];
export const WRITE_ITEM_ACTIONS: readonly ItemWriteAction[] = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

/** Every item action a table grant may name (what a function that reads and writes its own table gets). */
export const READ_WRITE_ITEM_ACTIONS: readonly ItemAction[] = [...READ_ITEM_ACTIONS, ...WRITE_ITEM_ACTIONS];

function stringKey(key: KeyAttribute): string {
  if (key.type !== 'string') throw new Error(`EncryptedTable: key ${key.name} must be a string attribute`);
  return key.name;
}

/** The key, TTL and index props of a table declared in contracts/tables.ts. */
export function tableSchemaProps(
  schema: TableSchema,
): Pick<EncryptedTableProps, 'partitionKey' | 'sortKey' | 'timeToLiveAttribute' | 'globalSecondaryIndexes'> {
  return {
    partitionKey: stringKey(schema.partitionKey),
    sortKey: schema.sortKey && stringKey(schema.sortKey),
    timeToLiveAttribute: schema.timeToLiveAttribute,
    globalSecondaryIndexes: schema.globalSecondaryIndexes?.map((index) => ({
      indexName: index.indexName,
      partitionKey: stringKey(index.partitionKey),
      sortKey: index.sortKey?.name,
      sortKeyType: index.sortKey?.type,
      nonKeyAttributes: index.nonKeyAttributes,
    })),
  };
}

function projectionOf(
  index: TableIndex,
): Pick<dynamodb.GlobalSecondaryIndexProps, 'projectionType' | 'nonKeyAttributes'> {
  // ALL by default: a Query on the index answers without a GetItem per result on the table.
  if (index.nonKeyAttributes === undefined) return { projectionType: dynamodb.ProjectionType.ALL };
  if (index.nonKeyAttributes.length === 0) return { projectionType: dynamodb.ProjectionType.KEYS_ONLY };
  return { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: [...index.nonKeyAttributes] };
}

/** What DynamoDB needs from the caller's key permissions to read, and to write, a CMK-encrypted table. */
const KEY_ACTIONS_TO_READ = ['kms:Decrypt'];
const KEY_ACTIONS_TO_WRITE = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

/**
 * A DynamoDB table with the project's data defaults: on-demand billing, encryption with a CMK,
 * point-in-time recovery and (optionally) TTL. Grants are item-level only, never table administration,
 * and the key may be used only through DynamoDB.
 */
export class EncryptedTable extends Construct {
  readonly table: dynamodb.Table;
  private readonly encryptionKey: kms.IKey;
  private readonly indexNames: ReadonlySet<string>;

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
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      timeToLiveAttribute: props.timeToLiveAttribute,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.deletionProtection,
    });

    for (const index of props.globalSecondaryIndexes ?? []) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: index.sortKey
          ? {
              name: index.sortKey,
              type:
                index.sortKeyType === 'number'
                  ? dynamodb.AttributeType.NUMBER
                  : dynamodb.AttributeType.STRING,
            }
          : undefined,
        ...projectionOf(index),
      });
    }
    this.indexNames = new Set((props.globalSecondaryIndexes ?? []).map((index) => index.indexName));
  }

  /**
   * `DescribeTable` on the table alone: its settings and DynamoDB's item counts, no item data (so no key use).
   * `Table.grant` would add every index's ARN as well, which DescribeTable does not need.
   */
  grantDescribe(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:DescribeTable'],
      resourceArns: [this.table.tableArn],
    });
  }

  /** Read items (GetItem/BatchGetItem/Query on the table, not its indexes) and decrypt them. */
  grantReadItems(grantee: iam.IGrantable): void {
    this.grantItems(grantee, READ_ITEM_ACTIONS);
  }

  /** Read and write items (no Scan, no table administration) and use the key for both directions. */
  grantReadWriteItems(grantee: iam.IGrantable): void {
    this.grantItems(grantee, READ_WRITE_ITEM_ACTIONS);
  }

  /**
   * Exactly these item actions on the table (not its indexes), plus the key permissions DynamoDB needs
   * for them: decrypt only for reads, decrypt and encrypt as soon as one action writes.
   */
  grantItems(grantee: iam.IGrantable, actions: readonly ItemAction[]): void {
    if (actions.length === 0) throw new Error('EncryptedTable.grantItems: no actions');
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...actions], resources: [this.table.tableArn] }),
    );
    const writes = actions.some((a) => (WRITE_ITEM_ACTIONS as readonly string[]).includes(a));
    this.addKeyStatement(grantee, writes ? KEY_ACTIONS_TO_WRITE : KEY_ACTIONS_TO_READ);
  }

  /** Query one global secondary index (that index only, not the others or the table) and decrypt. */
  grantQueryIndex(grantee: iam.IGrantable, indexName: string): void {
    if (!this.indexNames.has(indexName)) {
      throw new Error(`EncryptedTable.grantQueryIndex: the table has no index "${indexName}"`);
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${indexName}`],
      }),
    );
    this.addKeyStatement(grantee, KEY_ACTIONS_TO_READ);
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
