import * as z from 'zod/mini';
import { loadConfig, type ConfigShape } from '../runtime/config.js';
import { connectionConfigShape } from '../connections/config.js';
import { requireSubscriptionQueue, subscriptionSettings } from '../subscriptions/config.js';

/** POST /connect/{connectId}/confirm (docs/design.md, "Confirmed connect"). */
export const confirmConfigSchema = z
  .object({
    ...connectionConfigShape,
    // The confirm links the vehicles, so it subscribes them to the configured webhooks.
    ...subscriptionSettings,
  } satisfies ConfigShape<'connectConfirm'>)
  .check(z.superRefine(requireSubscriptionQueue));

export type ConfirmConfig = z.infer<typeof confirmConfigSchema>;

export function loadConfirmConfig(env: NodeJS.ProcessEnv = process.env): ConfirmConfig {
  return loadConfig(confirmConfigSchema, env);
}
