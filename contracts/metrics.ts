/**
 * Names of the custom metrics (Powertools EMF, unit Count, `service` dimension) that alarms watch: written
 * once here, used by the Lambdas that count them and the stack's alarms and dashboard. Queued webhooks are not
 * one of them: the webhook queue's own `NumberOfMessagesSent` counts them (only the receiver may send to it), so
 * an accepted delivery costs the receiver no EMF line.
 */
export const METRICS = {
  /** Receiver: a webhook refused for a missing or wrong SC-Signature (also by `reason`). */
  signatureFailures: 'WebhookSignatureFailures',
  /** Receiver: a webhook refused for its body (too large, not JSON, bad VERIFY challenge), by `reason`. */
  webhooksRejected: 'WebhooksRejected',
  /**
   * Token refresh, every run: the ACTIVE grants (users with connected vehicles), a gauge. The silence alarm pages
   * only while it is above zero: a stack without connected vehicles gets no webhooks.
   */
  connectedGrants: 'ConnectedGrants',
  /** Any Lambda reading the Smartcar secret: it still holds the stack's placeholder, so it refused. */
  secretNotConfigured: 'SmartcarSecretNotConfigured',
  /** Receiver and OAuth callback, edge front on: a request that went around CloudFront, refused (403). */
  edgeBypassRefused: 'EdgeBypassRefused',
  /** Processor: a body that can never be stored, kept once in the quarantine and acknowledged. */
  eventsQuarantined: 'EventsQuarantined',
} as const;
