import { Construct } from 'constructs';
import { BY_APP_USER_INDEX, FUNCTIONS } from '../../contracts/index.js';
import { READ_ITEM_ACTIONS, type EncryptedTable } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { LambdaEntries } from '../entries.js';

export interface VehicleApiProps {
  readonly api: SmartcarHttpApi;
  readonly vehicleTable: EncryptedTable;
  readonly metricsNamespace: string;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
}

/**
 * `GET /vehicles/{vehicleId}` (IAM) → read Lambda → DynamoDB, and `GET /vehicles?userId=` (IAM) → the same
 * Lambda → GSI byAppUser.
 */
export class VehicleApi extends Construct {
  readonly vehicleRead: NodeLambda<'vehicleRead'>;

  constructor(scope: Construct, id: string, props: VehicleApiProps) {
    super(scope, id);
    this.vehicleRead = new NodeLambda(this, 'VehicleRead', {
      function: 'vehicleRead',
      entry: props.entries?.vehicleRead,
      metricsNamespace: props.metricsNamespace,
    });
    this.vehicleRead.bindTable('VEHICLE_TABLE_NAME', props.vehicleTable, READ_ITEM_ACTIONS, {
      queryIndexes: [BY_APP_USER_INDEX],
    });
    // One integration (and Lambda) for both read routes; the handler dispatches on the route key.
    props.api.addFunctionRoutes('VehicleRead', this.vehicleRead.function, FUNCTIONS.vehicleRead.routes);
  }
}
