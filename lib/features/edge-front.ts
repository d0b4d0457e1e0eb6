import { Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  EDGE_ORIGIN_SECRET_VARIABLE,
  type EnvironmentOf,
  FUNCTION_IDS,
  FUNCTIONS,
  ORIGIN_VERIFY_HEADER,
  OAUTH_CALLBACK_PATH,
  type RouteContract,
  WEBHOOK_PATH,
} from '../../contracts/index.js';
import { EdgeWebAcl, edgeWebAclName, WAF_REGION } from '../constructs/edge-web-acl.js';
import type { NodeLambda } from '../constructs/node-lambda.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { SmartcarSettings } from '../settings.js';

/** The routes without an authorizer: the only ones CloudFront forwards (see EdgeFront). */
export const PUBLIC_ROUTES: readonly RouteContract[] = FUNCTION_IDS.flatMap(
  (id): readonly RouteContract[] => FUNCTIONS[id].routes,
).filter((route) => route.auth === 'none');

export interface EdgeFrontProps {
  readonly api: SmartcarHttpApi;
  /** Notified by the web ACL's alarm when the ACL is created here (in us-east-1). */
  readonly alarmTopic: sns.ITopic;
  readonly settings: Pick<
    SmartcarSettings,
    'edgeRateLimit' | 'edgeWebhookRateLimit' | 'edgeOriginGeneration'
  >;
  /**
   * ARN of the CLOUDFRONT-scope web ACL, made in us-east-1 by another stack (EdgeAclStack) when this stack
   * lives elsewhere; its name must be `edgeWebAclName(<this stack>)`. @default a web ACL created here, which
   * requires this stack to be in us-east-1
   */
  readonly webAclArn?: string;
  /** Days CloudFront's access logs are kept. @default 90 */
  readonly logRetentionDays?: number;
}

/**
 * Optional CloudFront + AWS WAF front of the public routes (`edgeProtection=on`).
 *
 * The HTTP API cannot take a web ACL itself, so a CloudFront distribution carries it. Only the routes without
 * an authorizer go through it (the webhook and the OAuth callback), uncached and with every viewer header,
 * query string and body forwarded except `Host` (API Gateway routes on its own host name). The IAM (SigV4)
 * routes stay on the execute-api URL: a SigV4 signature covers the host it was made for, so they cannot be
 * fronted without every caller signing for the CloudFront host instead. Everything else that reaches the
 * distribution is answered 404 at the edge and never reaches the API.
 *
 * Locked: CloudFront adds a generated secret as the `x-origin-verify` header to every request it forwards,
 * and the Lambdas behind the public routes (`lockOrigin`) refuse a request without it (403), so calling the
 * execute-api URL directly does not go around the web ACL. See README.md, "Edge protection".
 */
export class EdgeFront extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly logBucket: s3.Bucket;
  /** Name of the web ACL (the `WebACL` dimension of its AWS/WAFV2 metrics, in us-east-1). */
  readonly webAclName: string;
  /** The web ACL, when it is created in this stack (in us-east-1). */
  readonly webAcl?: EdgeWebAcl;
  /** Its BlockedRequests alarm, when the web ACL is in this stack; else it is in the ACL's own stack. */
  readonly blockedRequestsAlarm?: cloudwatch.Alarm;
  /** The value CloudFront sends in the origin-verify header and the locked Lambdas expect. */
  readonly originSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: EdgeFrontProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.region)) {
      throw new Error(
        'edgeProtection=on needs an explicit region on the stack (env.region): the web ACL must be created ' +
          `in ${WAF_REGION}, in this stack or, with crossRegionReferences, in a companion stack there`,
      );
    }
    this.webAclName = edgeWebAclName(stack.stackName);
    let webAclArn = props.webAclArn;
    if (webAclArn === undefined) {
      if (stack.region !== WAF_REGION) {
        throw new Error(
          `edgeProtection=on in ${stack.region}: the CLOUDFRONT-scope web ACL can only be created in ` +
            `${WAF_REGION}; create it there (createSmartcarApp adds an EdgeAclStack) and pass its ARN`,
        );
      }
      this.webAcl = new EdgeWebAcl(this, 'WebAcl', {
        name: this.webAclName,
        rateLimit: props.settings.edgeRateLimit,
        webhookRateLimit: props.settings.edgeWebhookRateLimit,
      });
      this.blockedRequestsAlarm = this.webAcl.addBlockedRequestsAlarm(new SnsAction(props.alarmTopic));
      webAclArn = this.webAcl.arn;
    }

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront's standard logging writes with an ACL that gives the bucket owner full control: the
      // bucket has to accept ACLs (the default, BucketOwnerEnforced, refuses the delivery).
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(props.logRetentionDays ?? 90) }],
      // Kept when the stack goes: CloudFormation cannot delete a bucket that still holds logs (emptying it
      // on delete would need a custom-resource Lambda), and the lifecycle rule empties it within 90 days.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "The bucket holds CloudFront's access logs itself; logging access to it into another bucket would " +
        'only move the question to that bucket. Nothing but CloudFront writes to it.',
    });

    // A new generation is a new resource (a new id): a new value, which the distribution and the Lambdas get in
    // the same deploy; the old secret is deleted once they no longer use it.
    const generation = props.settings.edgeOriginGeneration;
    this.originSecret = new secretsmanager.Secret(
      this,
      generation === 1 ? 'OriginSecret' : `OriginSecret${generation}`,
      {
        description:
          `Origin lock of ${stack.stackName}'s edge front: the x-origin-verify header CloudFront adds and the ` +
          'public routes require. Generated; never shown to anyone.',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        // Nothing to keep: a new stack generates a new value and hands it to its own distribution.
        removalPolicy: RemovalPolicy.DESTROY,
      },
    );
    Validations.of(this.originSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "A shared value between this stack's CloudFront distribution and its Lambdas, not a credential of " +
        'another service: CloudFormation resolves it into the distribution at deploy time, so a rotation Lambda ' +
        'changing it would lock Smartcar out until the next deploy. RUNBOOK.md, EdgeBlockedRequests, says how ' +
        'to replace it (a deploy that regenerates it updates both sides).',
    });

    const apiOrigin = new origins.HttpOrigin(Fn.select(2, Fn.split('/', props.api.httpApi.apiEndpoint)), {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      // Longer than API Gateway's own 30-second integration timeout (the OAuth callback may take 29 s), so
      // a slow request gets API Gateway's answer instead of CloudFront giving up first.
      readTimeout: Duration.seconds(35),
      // A dynamic reference: CloudFormation resolves it at deploy time, the template never holds the value.
      // CloudFront overwrites a viewer's header of the same name, so a caller cannot supply it.
      customHeaders: { [ORIGIN_VERIFY_HEADER]: this.originSecret.secretValue.unsafeUnwrap() },
    });
    const behaviors: Record<string, cloudfront.BehaviorOptions> = {};
    for (const route of PUBLIC_ROUTES) {
      if (route.path.includes('{')) {
        throw new Error(`EdgeFront: public route ${route.path} has a path parameter; add its path pattern`);
      }
      const previous = behaviors[route.path];
      const allowedMethods =
        route.method === 'GET' && previous === undefined
          ? cloudfront.AllowedMethods.ALLOW_GET_HEAD
          : cloudfront.AllowedMethods.ALLOW_ALL;
      behaviors[route.path] = {
        origin: apiOrigin,
        allowedMethods,
        // No http at all, not even a redirect to https: Smartcar would follow it without its POST body, and
        // an OAuth code must never cross the network in the clear.
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        // Every answer is per request (a webhook acknowledgement, an OAuth redirect): nothing to cache.
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        // Everything the handlers read (the raw body for the HMAC, SC-Signature, the query string with code
        // and state) but Host: API Gateway routes on its own host name.
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // The answers are an acknowledgement or a redirect of a few hundred bytes: nothing to compress.
        compress: false,
      };
    }

    // Any other path is answered 404 at the edge: the IAM routes cannot be called through CloudFront anyway
    // (their signatures name the execute-api host), and junk never reaches the API or its throttle budget.
    const notFound = new cloudfront.Function(this, 'NotFound', {
      comment: 'Answers 404 to every path that is not a public Smartcar route',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(
        "function handler() { return { statusCode: 404, statusDescription: 'Not Found' }; }",
      ),
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Public Smartcar routes of ${stack.stackName} behind AWS WAF`,
      webAclId: webAclArn,
      defaultBehavior: {
        origin: apiOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        functionAssociations: [
          { function: notFound, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
        ],
      },
      additionalBehaviors: behaviors,
      enableLogging: true,
      logBucket: this.logBucket,
      // Under a prefix of their own, so that other logs can share the bucket without mixing in.
      logFilePrefix: 'cloudfront/',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        "No geo restriction: Smartcar's delivery servers and the vehicle owners' browsers can be anywhere, " +
        'and a blocked country would silently lose their webhooks or Connects. The web ACL limits per address.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        'The distribution uses its default *.cloudfront.net certificate, with which CloudFront does not let ' +
        'the viewer TLS policy be raised; modern clients (Smartcar, browsers) negotiate TLS 1.2 or 1.3 anyway. ' +
        'Raising it needs a custom domain with an ACM certificate in us-east-1 (README, "Edge protection").',
    });
  }

  /**
   * Makes `fn` refuse requests that did not come through the front: the secret's id in its environment and
   * permission to read it (GetSecretValue on this secret only).
   */
  lockOrigin<F extends 'receiver' | 'oauthCallback'>(fn: NodeLambda<F>): void {
    // Both functions declare the variable (contracts/functions.ts); TypeScript cannot see that through F.
    fn.setEnvironment(EDGE_ORIGIN_SECRET_VARIABLE as EnvironmentOf<F>, this.originSecret.secretArn);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.originSecret.secretArn],
      }),
    );
  }

  /** The webhook's URL through CloudFront: the callback URI to configure in the Smartcar Dashboard. */
  get webhookUrl(): string {
    return `https://${this.distribution.distributionDomainName}${WEBHOOK_PATH}`;
  }

  /** The OAuth callback through CloudFront: the redirect URI to register in the Smartcar Dashboard. */
  get oauthCallbackUrl(): string {
    return `https://${this.distribution.distributionDomainName}${OAUTH_CALLBACK_PATH}`;
  }
}
