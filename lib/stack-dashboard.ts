import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { FUNCTION_IDS, FUNCTIONS, METRICS, type RouteContract } from '../contracts/index.js';
import { EDGE_RULES, edgeWafMetric } from './constructs/edge-web-acl.js';
import { OperationsDashboard } from './constructs/operations-dashboard.js';
import type { SmartcarHttpApi } from './constructs/smartcar-http-api.js';
import type { SmartcarStack } from './smartcar-stack.js';

/**
 * The stage's dashboard: traffic, latency and errors per route; queues; the features' outcomes; every alarm.
 * A feature with outcomes of its own adds a section here.
 */
export function stackDashboard(
  stack: SmartcarStack,
  metricsNamespace: string,
  api: SmartcarHttpApi,
): OperationsDashboard {
  const board = new OperationsDashboard(stack, 'Dashboard', { metricsNamespace });
  const routes = FUNCTION_IDS.flatMap((id): readonly RouteContract[] => FUNCTIONS[id].routes);
  board.addSection(
    'API routes: requests, 4xx, 5xx (left), p99 latency (right)',
    board.routeWidgets(api.stage, routes),
  );
  const pipeline = stack.webhookPipeline;
  board.addSection('Webhooks', [
    ...board.queueWidgets('Webhook queue', pipeline.queue.queue, pipeline.queue.deadLetterQueue),
    board.outcomeWidget('Receiver refusals', FUNCTIONS.receiver.serviceName, [
      METRICS.signatureFailures,
      METRICS.webhooksRejected,
      METRICS.secretNotConfigured,
    ]),
    board.outcomeWidget(
      'Processor outcomes',
      FUNCTIONS.processor.serviceName,
      [
        'EventsProcessed',
        'StaleSignalsSkipped',
        'DuplicateEvents',
        'EventsQuarantined',
        'ProcessingFailures',
        'TestEventsSkipped',
      ],
      ['eventType', 'service'],
    ),
  ]);
  board.addSection('OAuth and token refresh', [
    board.outcomeWidget('Connect callbacks', FUNCTIONS.oauthCallback.serviceName, [
      'ConnectSucceeded',
      'ConnectFailed',
      'VehiclesConnected',
    ]),
    board.outcomeWidget(
      'Connect failures by reason',
      FUNCTIONS.oauthCallback.serviceName,
      ['ConnectFailed'],
      ['reason', 'service'],
      'reason',
    ),
    board.outcomeWidget(
      'Webhook signature failures by reason',
      FUNCTIONS.receiver.serviceName,
      [METRICS.signatureFailures],
      ['reason', 'service'],
      'reason',
    ),
    board.outcomeWidget('Token refresh runs', FUNCTIONS.tokenRefresh.serviceName, [
      'TokenRefreshDue',
      'TokenRefreshRefreshed',
      'TokenRefreshSkipped',
      'TokenRefreshFailed',
      'TokenRefreshNeedsReauth',
      METRICS.connectedGrants,
    ]),
  ]);
  const edge = stack.edgeFront;
  if (edge) {
    // AWS WAF publishes a CloudFront ACL's metrics in us-east-1, wherever this dashboard is.
    const waf = (metricName: string, rule: string, label: string) =>
      edgeWafMetric(edge.webAclName, metricName, rule).with({ label });
    board.addSection('Edge: AWS WAF in front of the public routes (us-east-1)', [
      new cloudwatch.GraphWidget({
        title: 'Requests allowed and blocked',
        width: 12,
        left: [waf('AllowedRequests', 'ALL', 'allowed'), waf('BlockedRequests', 'ALL', 'blocked')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Blocked by rule',
        width: 12,
        left: Object.values(EDGE_RULES).map((rule) => waf('BlockedRequests', rule, rule)),
      }),
    ]);
  }
  // Every alarm of every feature, including ones added later.
  board.addAlarmOverview(
    stack.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm),
  );
  return board;
}
