import * as z from 'zod/mini';
import { loadConfig, nonEmpty, type ConfigShape } from '../runtime/config.js';
import { requireSubscriptionQueue, subscriptionSettings } from '../subscriptions/config.js';

/** POST /vehicles/{vehicleId}/subscriptions and the all-vehicles job (docs/design.md, "Webhook subscriptions"). */
export const vehicleSubscriptionsConfigSchema = z
  .object({
    VEHICLE_TABLE_NAME: nonEmpty,
    ...subscriptionSettings,
  } satisfies ConfigShape<'vehicleSubscriptions'>)
  .check(z.superRefine(requireSubscriptionQueue));

export type VehicleSubscriptionsConfig = z.infer<typeof vehicleSubscriptionsConfigSchema>;

export function loadVehicleSubscriptionsConfig(
  env: NodeJS.ProcessEnv = process.env,
): VehicleSubscriptionsConfig {
  return loadConfig(vehicleSubscriptionsConfigSchema, env);
}
