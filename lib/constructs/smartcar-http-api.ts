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
export const VEHICLES_PATH = '/vehicles';
export const CONNECT_PATH = '/connect';
export const OAUTH_CALLBACK_PATH = '/oauth/callback';

export interface ApiThrottle {
  /** Steady-state requests per second for the whole stage. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

export interface OAuthRouteHandlers {
  /** Handles `POST /connect` (IAM): starts Smartcar Connect for an app user. */
  readonly connect: lambda.IFunction;
  /** Handles `GET /oauth/callback` (public): Smartcar's browser redirect back after Connect. */
  readonly callback: lambda.IFunction;
  /** Handles `DELETE /vehicles/{vehicleId}` (IAM). */
  readonly disconnect: lambda.IFunction;
}

export interface OAuthRoutes {
  /** `POST /connect`, IAM-authorized. */
  readonly connect: apigwv2.HttpRoute;
  /** `GET /oauth/callback`, public. */
  readonly callback: apigwv2.HttpRoute;
  /** `DELETE /vehicles/{vehicleId}`, IAM-authorized. */
  readonly disconnect: apigwv2.HttpRoute;
}

export interface SmartcarHttpApiProps {
  /** Handles `POST /webhooks/smartcar` (public; authenticated by the HMAC signature in the Lambda). */
  readonly webhookHandler: lambda.IFunction;
  /** Handles `GET /vehicles/{vehicleId}` and `GET /vehicles?userId=` (IAM / SigV4). */
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
  /** `GET /vehicles?userId=`, IAM-authorized, same Lambda as `vehicleRoute`. */
  readonly vehiclesRoute: apigwv2.HttpRoute;
  private oauthRoutes?: OAuthRoutes;

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

    // One integration (and Lambda) for both read routes; the handler dispatches on the route key.
    const vehicleRead = new HttpLambdaIntegration('VehicleReadIntegration', props.vehicleReadHandler);
    this.vehicleRoute = this.iamRoute('VehicleRoute', VEHICLE_PATH, apigwv2.HttpMethod.GET, vehicleRead);
    this.vehiclesRoute = this.iamRoute('VehiclesRoute', VEHICLES_PATH, apigwv2.HttpMethod.GET, vehicleRead);
  }

  /**
   * The OAuth routes. Separate from the constructor because their Lambdas need this API's URL
   * (the default Smartcar redirect URI) in their environment, so they are created after the API.
   */
  addOAuthRoutes(handlers: OAuthRouteHandlers): OAuthRoutes {
    if (this.oauthRoutes) throw new Error('SmartcarHttpApi: the OAuth routes were already added');

    const connect = this.iamRoute(
      'ConnectRoute',
      CONNECT_PATH,
      apigwv2.HttpMethod.POST,
      new HttpLambdaIntegration('ConnectIntegration', handlers.connect),
    );

    const callback = new apigwv2.HttpRoute(this, 'OAuthCallbackRoute', {
      httpApi: this.httpApi,
      routeKey: apigwv2.HttpRouteKey.with(OAUTH_CALLBACK_PATH, apigwv2.HttpMethod.GET),
      integration: new HttpLambdaIntegration('OAuthCallbackIntegration', handlers.callback),
      // No authorizer: this is the redirect URI the vehicle owner's browser is sent to by Smartcar, and a
      // browser navigation carries no SigV4 signature or token. See the acknowledgement for what protects it.
    });
    Validations.of(callback).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "Smartcar Connect's OAuth redirect: the vehicle owner's browser is sent here by Smartcar and " +
        'cannot sign with SigV4. Each request must carry a state value that the IAM-protected POST ' +
        '/connect created (256 random bits, bound to the app user, expiring within minutes); the callback ' +
        'consumes it with one conditional write before it exchanges the code, so an unknown, expired or ' +
        'replayed state is refused and nothing is stored. The code itself is useless without the client ' +
        'secret, which only the Lambda has.',
    });

    const disconnect = this.iamRoute(
      'DisconnectRoute',
      VEHICLE_PATH,
      apigwv2.HttpMethod.DELETE,
      new HttpLambdaIntegration('DisconnectIntegration', handlers.disconnect),
    );

    this.oauthRoutes = { connect, callback, disconnect };
    return this.oauthRoutes;
  }

  /**
   * A route with IAM (SigV4) authorization: callers are backends with AWS credentials; access is granted
   * per principal with execute-api:Invoke (`route.grantInvoke`), with no user pool or token issuer to run.
   */
  private iamRoute(
    id: string,
    path: string,
    method: apigwv2.HttpMethod,
    integration: HttpLambdaIntegration,
  ): apigwv2.HttpRoute {
    return new apigwv2.HttpRoute(this, id, {
      httpApi: this.httpApi,
      routeKey: apigwv2.HttpRouteKey.with(path, method),
      integration,
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
