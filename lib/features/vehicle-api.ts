import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { BY_APP_USER_INDEX, FUNCTIONS } from '../../contracts/index.js';
import { READ_ITEM_ACTIONS, type EncryptedTable } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import { functionAlarms, routeAlarms, type RouteAlarmOptions } from '../constructs/on-call-alarm.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { LambdaEntries } from '../entries.js';

export interface VehicleApiProps {
  readonly api: SmartcarHttpApi;
  readonly vehicleTable: EncryptedTable;
  readonly metricsNamespace: string;
  readonly alarmTopic: sns.ITopic;
  /** Thresholds of the read routes' 5xx-rate and 4xx-spike alarms. @default routeAlarms' defaults */
  readonly routeAlarms?: RouteAlarmOptions;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
}

/**
 * `GET /vehicles/{vehicleId}` (IAM) → read Lambda → DynamoDB, and `GET /vehicles?userId=` (IAM) → the same
 * Lambda → GSI byAppUser.
 */
export class VehicleApi extends Construct {
  readonly vehicleRead: NodeLambda<'vehicleRead'>;
  readonly alarms: cloudwatch.Alarm[] = [];

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

    const action = new actions.SnsAction(props.alarmTopic);
    this.alarms.push(
      ...functionAlarms(this, 'VehicleRead', this.vehicleRead.function, action, {
        impact: 'GET /vehicles and GET /vehicles/{vehicleId} answer 5xx: the apps see no vehicle state.',
      }),
    );
    const [oneVehicle, list] = FUNCTIONS.vehicleRead.routes;
    this.alarms.push(
      ...routeAlarms(this, 'VehicleRoute', props.api.stage, oneVehicle, action, props.routeAlarms),
      ...routeAlarms(this, 'VehicleListRoute', props.api.stage, list, action, props.routeAlarms),
    );
  }
}
