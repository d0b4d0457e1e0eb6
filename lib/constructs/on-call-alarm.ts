import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

export type OnCallAlarmSpec = Omit<cloudwatch.AlarmProps, 'evaluationPeriods'> & {
  /** @default 1 */
  readonly evaluationPeriods?: number;
};

/**
 * An alarm that notifies `action` (the on-call topic) when it fires and when it recovers. Missing data
 * means no traffic, which is healthy.
 */
export function onCallAlarm(
  scope: Construct,
  id: string,
  action: cloudwatch.IAlarmAction,
  spec: OnCallAlarmSpec,
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    evaluationPeriods: 1,
    // No data means no traffic, which is not an incident.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    ...spec,
  });
  alarm.addAlarmAction(action);
  // Also tell on-call when it is over.
  alarm.addOkAction(action);
  return alarm;
}
