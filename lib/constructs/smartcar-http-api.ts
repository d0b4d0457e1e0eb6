import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export const WEBHOOK_PATH = '/webhooks/smartcar';
export const VEHICLE_PATH = '/vehicles/{vehicleId}';

export interface ApiThrottle {
  /** Steady-state requests per second for the whole stage. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

export interface SmartcarHttpApiProps {
  /** Handles `POST /webhooks/smartcar` (public; authenticated by the HMAC signature in the Lambda). */
  readonly webhookHandler: lambda.IFunction;
  /** Handles `GET /vehicles/{vehicleId}` (IAM / SigV4). */
  readonly vehicleReadHandler: lambda.IFunction;
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
  readonly webhookRoute: apigwv2.HttpRoute;
  /** IAM-authorized; callers need `execute-api:Invoke` on it (see `grantInvoke` on the route). */
  readonly vehicleRoute: apigwv2.HttpRoute;

  constructor(scope: Construct, id: string, props: SmartcarHttpApiProps) {
    super(scope, id);

    this.httpApi = new apigwv2.HttpApi(this, 'Api', {
      description: 'Smartcar webhooks and vehicle state',
      // The default stage is created below with access logs and throttling, which the implicit one lacks.
      createDefaultStage: false,
      // No CORS: the callers are Smartcar's servers and SigV4-signing backends, not browsers.
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

    this.webhookRoute = new apigwv2.HttpRoute(this, 'WebhookRoute', {
      httpApi: this.httpApi,
      routeKey: apigwv2.HttpRouteKey.with(WEBHOOK_PATH, apigwv2.HttpMethod.POST),
      // Payload format 2.0 (the default): the raw body arrives unchanged, as the HMAC check needs.
      integration: new HttpLambdaIntegration('WebhookIntegration', props.webhookHandler),
      // No authorizer: Smartcar cannot sign with SigV4 or send a token. The receiver verifies the
      // SC-Signature HMAC over the raw body with the Application Management Token and rejects the rest.
    });
    Validations.of(this.webhookRoute).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Smartcar delivers webhooks without AWS credentials or tokens. Every request is authenticated ' +
        'in the receiver Lambda by the SC-Signature HMAC-SHA256 of the raw body, keyed with the ' +
        'Application Management Token; unsigned or wrongly signed requests get 401 and are never queued.',
    });

    this.vehicleRoute = new apigwv2.HttpRoute(this, 'VehicleRoute', {
      httpApi: this.httpApi,
      routeKey: apigwv2.HttpRouteKey.with(VEHICLE_PATH, apigwv2.HttpMethod.GET),
      integration: new HttpLambdaIntegration('VehicleReadIntegration', props.vehicleReadHandler),
      // IAM (SigV4): callers are backends with AWS credentials; access is granted per principal with
      // execute-api:Invoke (vehicleRoute.grantInvoke), with no user pool or token issuer to run.
      authorizer: new HttpIamAuthorizer(),
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
}
