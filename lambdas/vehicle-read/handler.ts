import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadReadConfig } from './config.js';
import { dynamoVehicleList } from './list.js';
import { dynamoVehicleItems } from './store.js';
import { createVehicleReadHandler } from './create-handler.js';

// Cold start: configuration validated once; the client is created once and picks up AWS_ENDPOINT_URL_DYNAMODB.
const config = loadReadConfig();
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = createVehicleReadHandler({
  items: dynamoVehicleItems(documentClient, config.VEHICLE_TABLE_NAME),
  list: dynamoVehicleList(documentClient, config.VEHICLE_TABLE_NAME),
  logger: new Logger({ serviceName: 'vehicle-read' }),
});
