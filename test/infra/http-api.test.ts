import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CfnResource,
  connectConfirm,
  expectIntegrationTo,
  oauthCallback,
  oauthConnect,
  ofType,
  only,
  props,
  receiver,
  refOf,
  render,
  resources,
  synthesizeStack,
  vehicleDisconnect,
  vehicleSubscriptions,
  vehicleRead,
} from './stack-template.js';

/** The HTTP API (lib/constructs/smartcar-http-api.ts) with the routes the features add. */

beforeAll(synthesizeStack);

describe('HTTP API', () => {
  it('routes POST /webhooks/smartcar to the receiver without an authorizer (HMAC-protected)', () => {
    const [, route] = only(
      'AWS::ApiGatewayV2::Route',
      (r) => props(r).RouteKey === 'POST /webhooks/smartcar',
    );
    expect(props(route).AuthorizationType).toBe('NONE');
    expect(props(route).AuthorizerId).toBeUndefined();
    expectIntegrationTo(route, receiver()[0]);
  });

  it('routes GET /vehicles/{vehicleId} to the read Lambda with IAM (SigV4) authorization', () => {
    const [, route] = only(
      'AWS::ApiGatewayV2::Route',
      (r) => props(r).RouteKey === 'GET /vehicles/{vehicleId}',
    );
    expect(props(route).AuthorizationType).toBe('AWS_IAM');
    expectIntegrationTo(route, vehicleRead()[0]);
  });

  it.each([
    ['POST /connect', 'AWS_IAM', oauthConnect],
    ['GET /oauth/callback', 'NONE', oauthCallback],
    ['GET /vehicles', 'AWS_IAM', vehicleRead],
    ['DELETE /vehicles/{vehicleId}', 'AWS_IAM', vehicleDisconnect],
    ['POST /vehicles/{vehicleId}/subscriptions', 'AWS_IAM', vehicleSubscriptions],
  ])('routes %s (authorization %s) to its Lambda', (routeKey, authorization, target) => {
    const [, route] = only('AWS::ApiGatewayV2::Route', (r) => props(r).RouteKey === routeKey);
    expect(props(route).AuthorizationType).toBe(authorization);
    if (authorization === 'NONE') expect(props(route).AuthorizerId).toBeUndefined();
    expectIntegrationTo(route, target()[0]);
  });

  it('has exactly these routes (no $default catch-all); only the webhook and the OAuth callback are public', () => {
    const routes = Object.fromEntries(
      ofType('AWS::ApiGatewayV2::Route').map(([, r]) => [props(r).RouteKey, props(r).AuthorizationType]),
    );
    expect(routes).toEqual({
      'POST /webhooks/smartcar': 'NONE',
      'GET /vehicles/{vehicleId}': 'AWS_IAM',
      'GET /vehicles': 'AWS_IAM',
      'POST /connect': 'AWS_IAM',
      'POST /vehicles/{vehicleId}/subscriptions': 'AWS_IAM',
      'GET /oauth/callback': 'NONE',
      'DELETE /vehicles/{vehicleId}': 'AWS_IAM',
      'POST /vehicles/{vehicleId}/commands': 'AWS_IAM',
      'GET /vehicles/{vehicleId}/commands': 'AWS_IAM',
      'DELETE /users/{userId}': 'AWS_IAM',
      'POST /connect/{connectId}/confirm': 'AWS_IAM',
    });
  });

  it('lets API Gateway invoke each OAuth function for its own route only', () => {
    const cases: [[string, CfnResource], string[]][] = [
      [oauthConnect(), ['/*/*/connect']],
      [oauthCallback(), ['/*/*/oauth/callback']],
      [vehicleDisconnect(), ['/*/*/users/{userId}', '/*/*/vehicles/{vehicleId}']],
      [connectConfirm(), ['/*/*/connect/{connectId}/confirm']],
    ];
    const api = `<${only('AWS::ApiGatewayV2::Api')[0]}>`;
    for (const [f, paths] of cases) {
      const permissions = ofType('AWS::Lambda::Permission')
        .filter(([, p]) => refOf(props(p).FunctionName) === f[0])
        .map(([, p]) => props(p));
      expect(permissions.every((permission) => permission.Principal === 'apigateway.amazonaws.com')).toBe(
        true,
      );
      const arns = permissions.map((permission) => render(permission.SourceArn));
      expect(arns.every((arn) => arn.startsWith('arn:') || arn.includes(api))).toBe(true);
      expect(arns.map((arn) => arn.slice(arn.indexOf(api) + api.length)).sort()).toEqual(paths);
    }
  });

  it('logs every request of the $default stage as JSON, without bodies or headers, with a retention', () => {
    const [, stage] = only('AWS::ApiGatewayV2::Stage');
    expect(props(stage).StageName).toBe('$default');
    const settings = props(stage).AccessLogSettings as { DestinationArn: unknown; Format: string };
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format.requestId).toBe('$context.requestId');
    for (const variable of Object.values(format)) {
      expect(variable).not.toMatch(/body|header|authorization|signature|querystring/i);
    }
    const logGroup = resources[refOf(settings.DestinationArn) as string] as CfnResource;
    expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
    expect(props(logGroup).RetentionInDays).toBeGreaterThan(0);
  });

  it('throttles the stage', () => {
    const [, stage] = only('AWS::ApiGatewayV2::Stage');
    const route = props(stage).DefaultRouteSettings as Record<string, number>;
    expect(route.ThrottlingRateLimit).toBeGreaterThan(0);
    expect(route.ThrottlingBurstLimit).toBeGreaterThanOrEqual(route.ThrottlingRateLimit as number);
  });
});
