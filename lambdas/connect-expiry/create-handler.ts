import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { ConnectionDeps } from '../connections/deps.js';
import { expirePendingConnects } from '../connections/expiry.js';
import { createScheduledJobHandler } from '../runtime/scheduled-job.js';

/**
 * EventBridge schedule → revoke the pending connects whose window has passed. Metrics `ConnectExpiryWaiting`,
 * `ConnectExpiryRevoked`, `ConnectExpiryFailed` (a grant whose revocation failed; retried next run).
 */
export function createExpiryHandler(
  deps: ConnectionDeps & { readonly metrics: Metrics; readonly clock?: () => number },
) {
  return createScheduledJobHandler({
    // Never earlier than the clock: EventBridge's `time` has whole seconds and a delayed or replayed event an
    // old one, and neither may keep a connect alive past its window (a later `time` locally ends it sooner).
    run: (now) => expirePendingConnects(deps, Math.max(now, (deps.clock ?? Date.now)())),
    metricPrefix: 'ConnectExpiry',
    logger: deps.logger,
    metrics: deps.metrics,
  });
}
