import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { ConnectionDeps } from '../connections/deps.js';
import { reconcileConnections } from '../connections/reconcile.js';
import { createScheduledJobHandler } from '../runtime/scheduled-job.js';

/**
 * EventBridge schedule (daily) → one reconciliation. Metrics `Reconcile<Field>` of the summary, among them
 * `ReconcileUnknownConnections` (connections Smartcar has that no grant knows) and `ReconcileFailed`.
 */
export function createReconcileHandler(
  deps: ConnectionDeps & { readonly metrics: Metrics; readonly revokeOrphans: boolean },
) {
  return createScheduledJobHandler({
    run: (now) => reconcileConnections(deps, { now, revokeOrphans: deps.revokeOrphans }),
    metricPrefix: 'Reconcile',
    logger: deps.logger,
    metrics: deps.metrics,
  });
}
