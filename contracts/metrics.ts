/**
 * Names of the custom metrics (Powertools EMF, unit Count, `service` dimension) that alarms watch: written
 * once here, used by the Lambdas that count them and the stack's alarms and dashboard.
 */
export const METRICS = {
  /** Receiver: a webhook refused for a missing or wrong SC-Signature (also by `reason`). */
  signatureFailures: 'WebhookSignatureFailures',
  /** Receiver: a webhook refused for its body (too large, not JSON, bad VERIFY challenge), by `reason`. */
  webhooksRejected: 'WebhooksRejected',
  /** Receiver: an event queued; its absence while vehicles are connected is a silent delivery outage. */
  webhooksQueued: 'WebhooksQueued',
  /** Any Lambda reading the Smartcar secret: it still holds the stack's placeholder, so it refused. */
  secretNotConfigured: 'SmartcarSecretNotConfigured',
  /** Processor: a body that can never be stored, kept once in the quarantine and acknowledged. */
  eventsQuarantined: 'EventsQuarantined',
} as const;
