import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { secretOriginLock } from '../edge/origin-lock.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { loadReceiverConfig } from './config.js';
import { sqsWebhookQueue } from './queue.js';
import { createReceiverHandler } from './create-handler.js';

// Cold start: configuration validated once, clients created once and reused by every invocation.
const config = loadReceiverConfig();
const logger = new Logger({ serviceName: 'webhook-receiver' });
const secrets = new SecretsManagerClient({});
const secret = smartcarSecretSource(config.SMARTCAR_SECRET_ID, secrets);
const queue = sqsWebhookQueue(new SQSClient({}), config.QUEUE_URL);

export const handler = createReceiverHandler({
  maxBodyBytes: config.MAX_BODY_BYTES,
  secret,
  queue,
  logger,
  metrics: new Metrics({ serviceName: 'webhook-receiver' }),
  ...(config.EDGE_ORIGIN_SECRET_ID !== undefined && {
    originLock: secretOriginLock(config.EDGE_ORIGIN_SECRET_ID, secrets),
  }),
});
