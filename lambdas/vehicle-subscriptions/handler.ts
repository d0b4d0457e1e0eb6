import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoSubscriptions } from '../subscriptions/dynamo-subscriptions.js';
import { configuredScheduler } from '../subscriptions/scheduler.js';
import { sqsSubscriptionQueue } from '../subscriptions/sqs-subscription-queue.js';
import { dynamoVehicleLinks } from '../vehicles/dynamo-vehicle-links.js';
import { loadVehicleSubscriptionsConfig } from './config.js';
import { createVehicleSubscriptionsHandler } from './create-handler.js';
import { dynamoLinkedVehicles } from './linked-vehicles.js';

// Cold start: configuration validated once; clients created once and reused (AWS_ENDPOINT_URL_<SERVICE>
// points them at local stand-ins in local mode).
const config = loadVehicleSubscriptionsConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const logger = new Logger({ serviceName: 'vehicle-subscriptions' });
const metrics = new Metrics({ serviceName: 'vehicle-subscriptions' });
const store = dynamoSubscriptions(documentClient, config.VEHICLE_TABLE_NAME);

export const handler = createVehicleSubscriptionsHandler({
  // Only getProfile is used: the token table is never touched.
  links: dynamoVehicleLinks({
    client: documentClient,
    vehicleTableName: config.VEHICLE_TABLE_NAME,
    tokenTableName: '',
  }),
  store,
  scheduler: configuredScheduler(config, {
    store,
    queue: (queueUrl) => sqsSubscriptionQueue(sqs, queueUrl),
    logger,
    metrics,
  }),
  linkedVehicles: dynamoLinkedVehicles(documentClient, config.VEHICLE_TABLE_NAME),
  logger,
  metrics,
});
