import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { WEBHOOK_PATH } from '../../contracts/index.js';
import { onCallAlarm } from './on-call-alarm.js';

/**
 * The only region a CLOUDFRONT-scope web ACL can be created in, and where AWS WAF publishes its metrics
 * (namespace AWS/WAFV2): an alarm on them has to live there too.
 */
export const WAF_REGION = 'us-east-1';

/** The web ACL's rule names, which are also its metric names (the `Rule` dimension of AWS/WAFV2). */
export const EDGE_RULES = {
  webhookPerIp: 'WebhookPerSourceIp',
  otherPerIp: 'OtherRoutesPerSourceIp',
  ipReputation: 'AmazonIpReputation',
} as const;

/**
 * The web ACL's name, derived from the stack that fronts its API: the dashboard of that stack finds the
 * metrics by name, also when the ACL lives in another stack (another region).
 */
export const edgeWebAclName = (stackName: string): string => `${stackName}-edge`;

export interface EdgeWebAclProps {
  /** The ACL's name (see edgeWebAclName); unique per account among CLOUDFRONT-scope ACLs. */
  readonly name: string;
  /** Requests per source IP within 5 minutes on every route but the webhook's, above which it is blocked. */
  readonly rateLimit: number;
  /** Requests per source IP within 5 minutes on the webhook route, above which it is blocked. */
  readonly webhookRateLimit: number;
}

/** The 5-minute window both rate rules count in (AWS WAF's default; the limits' unit). */
const RATE_WINDOW_SECONDS = 300;

const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
  cloudWatchMetricsEnabled: true,
  metricName,
  // Sampled requests (the console's view of what matched) are how on-call tells Smartcar from a flood.
  sampledRequestsEnabled: true,
});

/** `uri_path` equals `path` exactly (CloudFront passes the path unchanged). */
const pathIs = (path: string): wafv2.CfnWebACL.StatementProperty => ({
  byteMatchStatement: {
    fieldToMatch: { uriPath: {} },
    positionalConstraint: 'EXACTLY',
    searchString: path,
    textTransformations: [{ priority: 0, type: 'NONE' }],
  },
});

/**
 * A CLOUDFRONT-scope AWS WAF web ACL that blocks source IPs sending too many requests.
 *
 * Two rate-based rules, aggregated per source IP, because the two kinds of public traffic differ by orders of
 * magnitude: Smartcar delivers every webhook of the whole fleet from a few addresses of its own, so the
 * webhook route's per-IP limit has to fit a fleet's delivery rate, while a vehicle owner's browser calls the
 * OAuth callback once per Connect. One limit for both would either block Smartcar or let a single address
 * hammer the callback.
 *
 * Deliberately no managed rule group that inspects request bodies: the Core rule set's
 * SizeRestrictions_BODY blocks bodies over 8 KB, and Smartcar's webhook bodies reach about 50 KB. The one
 * managed group here, the Amazon IP reputation list, looks only at the source address (known botnets,
 * scanners and DDoS sources) and never at a body or header; Smartcar's delivery servers are not on it.
 */
export class EdgeWebAcl extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  readonly name: string;

  constructor(scope: Construct, id: string, props: EdgeWebAclProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region) || region !== WAF_REGION) {
      throw new Error(
        `EdgeWebAcl: a CLOUDFRONT-scope web ACL can only be created in ${WAF_REGION}; this stack's region ` +
          `is ${Token.isUnresolved(region) ? 'not set at synth' : region}`,
      );
    }
    this.name = props.name;
    const rateRule = (
      name: string,
      priority: number,
      limit: number,
      scopeDownStatement: wafv2.CfnWebACL.StatementProperty,
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      action: { block: {} },
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'IP',
          limit,
          evaluationWindowSec: RATE_WINDOW_SECONDS,
          scopeDownStatement,
        },
      },
      visibilityConfig: visibility(name),
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: props.name,
      scope: 'CLOUDFRONT',
      description: 'Rate limits per source IP in front of the public Smartcar routes',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(props.name),
      rules: [
        {
          name: EDGE_RULES.ipReputation,
          priority: 0,
          // The group's own actions (block; its DDoS list only counts).
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' },
          },
          visibilityConfig: visibility(EDGE_RULES.ipReputation),
        },
        rateRule(EDGE_RULES.webhookPerIp, 1, props.webhookRateLimit, pathIs(WEBHOOK_PATH)),
        rateRule(EDGE_RULES.otherPerIp, 2, props.rateLimit, {
          notStatement: { statement: pathIs(WEBHOOK_PATH) },
        }),
      ],
    });
  }

  get arn(): string {
    return this.webAcl.attrArn;
  }

  /**
   * `EdgeBlockedRequests`: the web ACL blocked more than `threshold` requests in 5 minutes. Either a flood
   * that the ACL is stopping, or Smartcar's own deliveries over the webhook limit (lost after Smartcar's
   * retries): on-call tells which from the sampled requests (RUNBOOK.md).
   */
  addBlockedRequestsAlarm(action: cloudwatch.IAlarmAction, threshold = 100): cloudwatch.Alarm {
    return onCallAlarm(this, 'EdgeBlockedRequests', action, {
      metric: edgeWafMetric(this.name, 'BlockedRequests', 'ALL'),
      threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        `AWS WAF in front of the public routes blocked more than ${threshold} requests in 5 minutes: a flood ` +
        "being stopped, or Smartcar's deliveries over the webhook's per-IP limit (lost after its retries).",
    });
  }
}

/**
 * A metric of a CLOUDFRONT-scope web ACL (or one of its rules, `rule`; `ALL` for the whole ACL). CloudFront
 * ACLs publish in us-east-1 without a `Region` dimension; the metric says its region so that a dashboard in
 * another region can graph it.
 */
export function edgeWafMetric(aclName: string, metricName: string, rule: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/WAFV2',
    metricName,
    dimensionsMap: { WebACL: aclName, Rule: rule },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
    region: WAF_REGION,
  });
}
