import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface OnCallTopicProps {
  /** Optional e-mail address subscribed to the topic (it must confirm the subscription). */
  readonly email?: string;
}

/**
 * The SNS topic every alarm of the stack notifies, encrypted and TLS-only.
 *
 * It has its own small CMK rather than the data key: CloudWatch must be allowed to use the topic's key
 * (an alarm cannot publish to a topic under the AWS-managed aws/sns key), and that service principal
 * should get nothing that can decrypt vehicle data.
 */
export class OnCallTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: OnCallTopicProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the on-call alarm topic of ${stack.stackName}`,
      enableKeyRotation: true,
      // Protects only in-flight notifications, no stored data: nothing to keep after the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch alarms encrypt the message they publish with the topic's key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        // As AWS documents for alarms on encrypted topics; SNS calls KMS on CloudWatch's behalf.
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // In a key policy "*" means this key.
        resources: ['*'],
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `${stack.stackName} on-call alarms`,
      // KMS encryption at rest (cdk-nag SNS2).
      masterKey: this.key,
      // Topic policy denying publishes that are not made over TLS (cdk-nag SNS3).
      enforceSSL: true,
    });
    // The topic policy above replaces SNS's default policy, so CloudWatch is allowed explicitly, and only
    // for alarms of this account.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    if (props.email) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
  }
}
