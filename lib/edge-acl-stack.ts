import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Construct } from 'constructs';
import { EdgeWebAcl, edgeWebAclName, WAF_REGION } from './constructs/edge-web-acl.js';
import { OnCallTopic } from './constructs/on-call-topic.js';
import type { SmartcarSettings } from './settings.js';

export interface EdgeAclStackProps extends StackProps {
  /** Name of the stack whose public routes the ACL fronts (the ACL's name derives from it). */
  readonly frontedStackName: string;
  readonly settings: Pick<
    SmartcarSettings,
    'edgeRateLimit' | 'edgeWebhookRateLimit' | 'alarmEmail' | 'stage' | 'owner'
  >;
}

/**
 * The web ACL of the edge front when the main stack is not in us-east-1: CLOUDFRONT-scope web ACLs exist only
 * there, and so do their metrics. The main stack reads the ACL's ARN through a cross-region reference.
 *
 * Its BlockedRequests alarm lives here, next to the metric (a CloudWatch alarm watches metrics of its own
 * region only), and notifies an on-call topic of this stack: alarm actions must be in the alarm's region, so
 * the main stack's topic cannot be used. Subscribe the same pager to both (`alarmEmail` does).
 */
export class EdgeAclStack extends Stack {
  readonly webAcl: EdgeWebAcl;

  constructor(scope: Construct, id: string, props: EdgeAclStackProps) {
    const { settings, frontedStackName, ...stackProps } = props;
    super(scope, id, {
      ...stackProps,
      env: { account: stackProps.env?.account, region: WAF_REGION },
      crossRegionReferences: true,
    });
    Tags.of(this).add('project', 'smartcar-integration');
    Tags.of(this).add('service', 'smartcar-integration');
    Tags.of(this).add('stage', settings.stage);
    Tags.of(this).add('owner', settings.owner);

    const onCall = new OnCallTopic(this, 'OnCall', { email: settings.alarmEmail });
    this.webAcl = new EdgeWebAcl(this, 'WebAcl', {
      name: edgeWebAclName(frontedStackName),
      rateLimit: settings.edgeRateLimit,
      webhookRateLimit: settings.edgeWebhookRateLimit,
    });
    this.webAcl.addBlockedRequestsAlarm(new SnsAction(onCall.topic));

    new CfnOutput(this, 'AlarmTopicArn', {
      value: onCall.topic.topicArn,
      description: `On-call topic of the edge alarms (${WAF_REGION}); subscribe the same pager as ${frontedStackName}'s`,
    });
    new CfnOutput(this, 'WebAclArn', { value: this.webAcl.arn });
  }
}
