import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  CONNECT_PATH,
  OAUTH_CALLBACK_PATH,
  routeKey,
  WEBHOOK_PATH,
  type RouteContract,
} from '../../contracts/index.js';

// The routes' paths are declared with their functions in contracts/functions.ts.
export {
  CONNECT_PATH,
  OAUTH_CALLBACK_PATH,
  VEHICLE_PATH,
  VEHICLES_PATH,
  WEBHOOK_PATH,
} from '../../contracts/index.js';

export interface ApiThrottle {
  /** Steady-state requests per second for the whole stage. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

export interface SmartcarHttpApiProps {
  readonly throttle: ApiThrottle;
  /** @default one month */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * One JSON object per request. Deliberately without request bodies, query strings, headers (so no
 * `SC-Signature` or `Authorization`) and without the raw path: the route key says which API was hit.
 */
const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  caller: '$context.identity.userArn',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
};

/**
 * The project's HTTP API.
 *
 * Why an HTTP API and not a REST API: it costs about 70% less per request and adds less latency (the
 * webhook sits on Smartcar's 15-second delivery clock), and everything needed here exists on it: Lambda
 * proxy integrations with payload format 2.0, IAM (SigV4) authorization, stage throttling and access
 * logs. The REST-only features are not needed: the webhook route needs no API keys or usage plans because
 * every request is authenticated by its HMAC signature, and there is no request validation, caching or
 * WAF requirement that could not be met in the Lambda.
 */
export class SmartcarHttpApi extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogGroup: logs.LogGroup;
  /** Every route added so far, by route key (`"<METHOD> <path>"`). */
  readonly routes = new Map<string, apigwv2.HttpRoute>();

  constructor(scope: Construct, id: string, props: SmartcarHttpApiProps) {
    super(scope, id);

    this.httpApi = new apigwv2.HttpApi(this, 'Api', {
      description: 'Smartcar webhooks, OAuth (Connect) and vehicle state',
      // The default stage is created below with access logs and throttling, which the implicit one lacks.
      createDefaultStage: false,
      // No CORS: the callers are Smartcar's servers, SigV4-signing backends and, on /oauth/callback,
      // top-level browser navigations, which CORS does not apply to. No script in a browser calls this API.
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      // `$default` serves the API at the root of its URL (no stage segment in the webhook URL).
      stageName: '$default',
      autoDeploy: true,
      // Stage throttling caps what an unauthenticated flood on the public route can cost (Lambda
      // invocations, SQS requests, log volume) and keeps this API from using up the account-wide
      // API Gateway quota shared with other APIs. The limits must stay well above the fleet's real
      // webhook rate: Smartcar retries a 429 only three times within three minutes and then drops the event.
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
  }

  /**
   * Integrates `handler` with the function's routes (one integration, and one invoke permission, for all of
   * them: the handler dispatches on the route key). `iam` routes get IAM (SigV4) authorization: callers are
   * backends with AWS credentials; access is granted per principal with execute-api:Invoke
   * (`route.grantInvoke`), with no user pool or token issuer to run. A route with `auth: 'none'` needs
   * `publicReason`, the cdk-nag acknowledgement of why it has no authorizer.
   */
  addFunctionRoutes(
    id: string,
    handler: lambda.IFunction,
    routes: readonly RouteContract[],
    publicReason?: string,
  ): apigwv2.HttpRoute[] {
    // Payload format 2.0 (the default): the raw body arrives unchanged, as the webhook's HMAC check needs.
    const integration = new HttpLambdaIntegration(`${id}Integration`, handler);
    return routes.map((route) => {
      const key = routeKey(route);
      if (this.routes.has(key)) throw new Error(`SmartcarHttpApi: route ${key} was already added`);
      const httpRoute = new apigwv2.HttpRoute(this, `${id}${key.replace(/[^A-Za-z0-9]/g, '')}Route`, {
        httpApi: this.httpApi,
        routeKey: apigwv2.HttpRouteKey.with(route.path, apigwv2.HttpMethod[route.method]),
        integration,
        ...(route.auth === 'iam' ? { authorizer: new HttpIamAuthorizer() } : {}),
      });
      if (route.auth === 'none') {
        if (publicReason === undefined)
          throw new Error(`SmartcarHttpApi: public route ${key} needs a reason`);
        Validations.of(httpRoute).acknowledge({ id: 'AwsSolutions-APIG4', reason: publicReason });
      }
      this.routes.set(key, httpRoute);
      return httpRoute;
    });
  }

  /** Base URL of the API (ends with a slash). */
  get url(): string {
    return this.stage.url;
  }

  /** The URL to configure as the webhook callback URI in the Smartcar dashboard. */
  get webhookUrl(): string {
    return `${this.stage.url}${WEBHOOK_PATH.slice(1)}`;
  }

  /**
   * This API's OAuth callback URL (the default Smartcar redirect URI). Depends only on the API id, not on
   * the routes or the stage resource, so Lambdas behind this API can have it in their environment.
   */
  get oauthCallbackUrl(): string {
    return `${this.stage.url}${OAUTH_CALLBACK_PATH.slice(1)}`;
  }

  /** URL of `POST /connect`. */
  get connectUrl(): string {
    return `${this.stage.url}${CONNECT_PATH.slice(1)}`;
  }
}
