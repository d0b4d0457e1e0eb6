import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { ConnectionDeps } from '../connections/deps.js';
import { expirePendingConnects } from '../connections/expiry.js';
import { createScheduledJobHandler } from '../runtime/scheduled-job.js';

/**
 * EventBridge schedule → revoke the pending connects whose window has passed. Metrics `ConnectExpiryWaiting`,
 * `ConnectExpiryRevoked`, `ConnectExpiryFailed` (a grant whose revocation failed; retried next run).
 */
export function createExpiryHandler(deps: ConnectionDeps & { readonly metrics: Metrics }) {
  return createScheduledJobHandler({
    run: (now) => expirePendingConnects(deps, now),
    metricPrefix: 'ConnectExpiry',
    logger: deps.logger,
    metrics: deps.metrics,
  });
}
