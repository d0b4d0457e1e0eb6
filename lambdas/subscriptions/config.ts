import * as z from 'zod/mini';
import { absoluteUrl } from '../oauth/oauth-config.js';
import { isValidWebhookId } from '../vehicles/vehicle-keys.js';
import { parseWebhookIds } from './subscription.js';

/**
 * The configuration of who schedules subscriptions (callback, re-run route): which webhooks to subscribe new
 * vehicles to and the queue the worker reads. Empty SMARTCAR_WEBHOOK_IDS (the default) = nothing is subscribed
 * here: the Dashboard's auto-enrollment does it.
 */
export const webhookIds = z.pipe(
  z.optional(z.string()),
  z.transform((value: string | undefined, ctx) => {
    const ids = parseWebhookIds(value);
    const bad = ids.filter((id) => !isValidWebhookId(id));
    if (bad.length > 0) {
      // zod/mini's transform context has no addIssue: the issue goes into the payload's list directly.
      ctx.issues.push({
        code: 'custom',
        message: 'each webhook id must be letters, digits, . _ : - (max 128)',
        input: value,
      });
      return z.NEVER;
    }
    return ids;
  }),
);

export const subscriptionSettings = {
  SMARTCAR_WEBHOOK_IDS: webhookIds,
  SUBSCRIPTION_QUEUE_URL: z.optional(absoluteUrl),
};

/** Webhook ids without a queue to send them to is a deployment error, found at cold start. */
export function requireSubscriptionQueue(
  config: {
    readonly SMARTCAR_WEBHOOK_IDS: readonly string[];
    readonly SUBSCRIPTION_QUEUE_URL?: string | undefined;
  },
  ctx: z.core.$RefinementCtx,
): void {
  if (config.SMARTCAR_WEBHOOK_IDS.length > 0 && config.SUBSCRIPTION_QUEUE_URL === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['SUBSCRIPTION_QUEUE_URL'],
      message: 'is required when SMARTCAR_WEBHOOK_IDS is set',
    });
  }
}
