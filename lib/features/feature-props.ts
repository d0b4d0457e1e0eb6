import type * as sns from 'aws-cdk-lib/aws-sns';
import type { EncryptedTable } from '../constructs/encrypted-table.js';
import type { SmartcarHttpApi } from '../constructs/smartcar-http-api.js';
import type { SmartcarSecret } from '../constructs/smartcar-secret.js';
import type { TokenKey } from '../constructs/token-key.js';
import type { LambdaEntries } from '../entries.js';

/** What every feature that calls Smartcar with a vehicle's tokens is given by the stack. */
export interface SmartcarFeatureProps {
  readonly api: SmartcarHttpApi;
  readonly secret: SmartcarSecret;
  readonly vehicleTable: EncryptedTable;
  readonly tokenTable: EncryptedTable;
  readonly tokenKey: TokenKey;
  readonly alarmTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** @default LAMBDA_ENTRIES */
  readonly entries?: Partial<LambdaEntries>;
}
