import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { METRICS } from '../../contracts/metrics.js';
import { refuseUnlessViaEdge, type OriginLock } from '../edge/origin-lock.js';
import { header, json, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';
import {
  SECRET_NOT_CONFIGURED_METRIC,
  SecretNotConfiguredError,
  type SmartcarSecretSource,
} from '../smartcar/secret.js';
import type { WebhookQueue } from './queue.js';
import { receiveWebhook } from './receive.js';

export interface ReceiverDeps {
  readonly maxBodyBytes: number;
  readonly secret: SmartcarSecretSource;
  readonly queue: WebhookQueue;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** With the edge front on: refuses requests that did not come through CloudFront. @default none */
  readonly originLock?: OriginLock;
}

const SIGNATURE_FAILURES_METRIC = METRICS.signatureFailures;
const REJECTED_METRIC = METRICS.webhooksRejected;

/** Decoded size of a (possibly base64) body, computed without decoding it. */
function bodyByteLength(body: string, isBase64Encoded: boolean): number {
  if (!isBase64Encoded) return Buffer.byteLength(body, 'utf8');
  const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
  return Math.floor((body.length * 3) / 4) - padding;
}

/**
 * POST /webhooks/smartcar. Order matters: size (413) before any HMAC work; nothing from the body or the
 * headers is logged before the signature is verified; 2xx only after SQS has the message. While the secret
 * holds the stack's placeholder nothing is verified or signed: 503, so Smartcar retries once it is set.
 */
export function createReceiverHandler(deps: ReceiverDeps) {
  const { logger, metrics } = deps;
  async function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    if (deps.originLock) {
      const refused = await refuseUnlessViaEdge(event, { lock: deps.originLock, logger, metrics });
      if (refused) return refused;
    }
    const body = event.body ?? '';
    const isBase64 = event.isBase64Encoded === true;
    if (bodyByteLength(body, isBase64) > deps.maxBodyBytes) {
      countFailure(metrics, REJECTED_METRIC, 'payload_too_large');
      logger.warn('Webhook rejected', { status: 413, reason: 'payload_too_large' });
      return problem(413, 'payload_too_large', `body exceeds ${deps.maxBodyBytes} bytes`);
    }
    const rawBody = isBase64 ? Buffer.from(body, 'base64') : body;

    let secret;
    try {
      secret = await deps.secret.get();
    } catch (error) {
      if (error instanceof SecretNotConfiguredError) {
        metrics.addMetric(SECRET_NOT_CONFIGURED_METRIC, MetricUnit.Count, 1);
        logger.error('The Smartcar secret still holds the placeholder; refusing to verify or sign', {
          fields: error.fields,
        });
        return problem(503, 'not_configured', 'the webhook endpoint is not configured yet');
      }
      metrics.addMetric('SecretUnavailable', MetricUnit.Count, 1);
      logger.error('Could not read the Smartcar secret', { error: error as Error });
      return problem(500, 'internal_error', 'temporarily unable to verify webhooks');
    }

    const input = { rawBody, signature: header(event.headers, 'sc-signature') };
    let outcome = receiveWebhook(input, {
      current: secret.managementToken,
      previous: secret.previousManagementToken,
    });
    if (outcome.kind === 'reject' && outcome.error === 'invalid_signature' && deps.secret.refresh) {
      // The AMT may just have been rotated: look again (rate-limited) before refusing, so the first delivery
      // signed with the new token is accepted instead of failing until the 5-minute cache expires.
      const fresh = await deps.secret.refresh().catch(() => secret);
      if (fresh.managementToken !== secret.managementToken) {
        outcome = receiveWebhook(input, {
          current: fresh.managementToken,
          previous: fresh.previousManagementToken,
        });
      }
    }

    switch (outcome.kind) {
      case 'reject':
        countFailure(
          metrics,
          outcome.status === 401 ? SIGNATURE_FAILURES_METRIC : REJECTED_METRIC,
          outcome.error,
        );
        // Only our own reason code: the body and headers are untrusted here.
        logger.warn('Webhook rejected', { status: outcome.status, reason: outcome.error });
        return problem(outcome.status, outcome.error, outcome.reason);
      case 'verify':
        metrics.addMetric('VerifyChallengesAnswered', MetricUnit.Count, 1);
        logger.info('Answered VERIFY challenge');
        return json(200, { challenge: outcome.answer });
      case 'enqueue': {
        // The correlation ids (eventId, deliveryId) travel on as SQS message attributes to the processor.
        const { attributes } = outcome.message;
        try {
          // No metric here: the queue's NumberOfMessagesSent counts accepted deliveries for free, and an EMF
          // line per delivery cost about a sixth of the receiver's CPU per request, and one log line each.
          const messageId = await deps.queue.send(outcome.message);
          // DEBUG, not INFO: one line per accepted delivery cost a third of the receiver's CPU at the deployed
          // level; every accepted event is logged by the processor (with its ids) when it is applied.
          logger.debug('Webhook queued', { ...attributes, messageId });
          return json(200, { status: 'received' });
        } catch (error) {
          // 5xx: Smartcar retries (25 s, 50 s, 100 s), so nothing is lost while SQS recovers.
          metrics.addMetric('QueueSendFailures', MetricUnit.Count, 1);
          logger.error('Could not queue webhook', { ...attributes, error: error as Error });
          return problem(503, 'queue_unavailable', 'could not store the event, retry later');
        }
      }
    }
  }

  return middy(handleRequest).use(publishMetricsIfAny(metrics));
}

/**
 * Flushes the metrics a request counted, and writes nothing when it counted none. Powertools' `logMetrics`
 * flushes on every request and warns about an empty flush, which would be one log line per accepted delivery.
 */
function publishMetricsIfAny(metrics: Metrics): middy.MiddlewareObj {
  const flush = async (): Promise<void> => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: flush, onError: flush };
}
