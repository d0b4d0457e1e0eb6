import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { header, json, problem } from '../runtime/http.js';
import type { SmartcarSecretSource } from '../smartcar/secret.js';
import type { WebhookQueue } from './queue.js';
import { receiveWebhook } from './receive.js';

export interface ReceiverDeps {
  readonly maxBodyBytes: number;
  readonly secret: SmartcarSecretSource;
  readonly queue: WebhookQueue;
  readonly logger: Logger;
}

/** Decoded size of a (possibly base64) body, computed without decoding it. */
function bodyByteLength(body: string, isBase64Encoded: boolean): number {
  if (!isBase64Encoded) return Buffer.byteLength(body, 'utf8');
  const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
  return Math.floor((body.length * 3) / 4) - padding;
}

/**
 * POST /webhooks/smartcar. Order matters: size (413) before any HMAC work; nothing from the body or the
 * headers is logged before the signature is verified; 2xx only after SQS has the message.
 */
export function createReceiverHandler(deps: ReceiverDeps) {
  const { logger } = deps;
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const body = event.body ?? '';
    const isBase64 = event.isBase64Encoded === true;
    if (bodyByteLength(body, isBase64) > deps.maxBodyBytes) {
      logger.warn('Webhook rejected', { status: 413, reason: 'payload_too_large' });
      return problem(413, 'payload_too_large', `body exceeds ${deps.maxBodyBytes} bytes`);
    }
    const rawBody = isBase64 ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');

    let secret;
    try {
      secret = await deps.secret.get();
    } catch (error) {
      logger.error('Could not read the Smartcar secret', { error: error as Error });
      return problem(500, 'internal_error', 'temporarily unable to verify webhooks');
    }

    const outcome = receiveWebhook(
      { rawBody, signature: header(event.headers, 'sc-signature') },
      { current: secret.managementToken, previous: secret.previousManagementToken },
    );

    switch (outcome.kind) {
      case 'reject':
        // Only our own reason code: the body and headers are untrusted here.
        logger.warn('Webhook rejected', { status: outcome.status, reason: outcome.error });
        return problem(outcome.status, outcome.error, outcome.reason);
      case 'verify':
        logger.info('Answered VERIFY challenge');
        return json(200, { challenge: outcome.answer });
      case 'enqueue': {
        const { attributes } = outcome.message;
        try {
          const messageId = await deps.queue.send(outcome.message);
          // DEBUG, not INFO: one line per accepted delivery cost a third of the receiver's CPU at the deployed
          // level; every accepted event is logged by the processor (with its ids) when it is applied.
          logger.debug('Webhook queued', { ...attributes, messageId });
          return json(200, { status: 'received' });
        } catch (error) {
          // 5xx: Smartcar retries (25 s, 50 s, 100 s), so nothing is lost while SQS recovers.
          logger.error('Could not queue webhook', { ...attributes, error: error as Error });
          return problem(503, 'queue_unavailable', 'could not store the event, retry later');
        }
      }
    }
  };
}
