import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionAdapters } from '../connections/adapters.js';
import { smartcarSecretSource } from '../smartcar/secret.js';
import { awsSubscriptionScheduler } from '../subscriptions/aws-scheduler.js';
import { subscriptionHooks } from '../subscriptions/connection-hooks.js';
import { loadConfirmConfig } from './config.js';
import { createConfirmHandler } from './create-handler.js';

// Cold start: configuration validated once; clients created once and reused.
const config = loadConfirmConfig();
const logger = new Logger({ serviceName: 'connect-confirm' });
const metrics = new Metrics({ serviceName: 'connect-confirm' });
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const subscriptions = awsSubscriptionScheduler(config, { documentClient, sqs, logger, metrics });

export const handler = createConfirmHandler({
  ...connectionAdapters({
    config,
    documentClient,
    secret: smartcarSecretSource(config.SMARTCAR_SECRET_ID, new SecretsManagerClient({})),
    logger,
    ...(subscriptions && { hooks: subscriptionHooks({ scheduler: subscriptions }) }),
  }),
  metrics,
});
