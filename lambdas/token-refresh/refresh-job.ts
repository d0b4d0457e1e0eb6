import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { settleWithConcurrency } from '../runtime/concurrency.js';
import { METRICS } from '../../contracts/metrics.js';
import type { DueGrant } from '../tokens/grant.js';
import type { GrantCensus } from '../tokens/grant-census.js';
import { createRateGate } from '../tokens/rate-gate.js';
import type { RecoveryApplier } from '../tokens/token-recovery.js';
import type { RotationResult, TokenRotation, TokenRotationDeps } from '../tokens/token-rotation.js';
import type { TokenStore } from '../tokens/token-store.js';

/**
 * The scheduled token refresh (docs/design.md, "Scheduled token refresh with atomic rotation"): select the due
 * grants from the due-time indexes (Query, never Scan), rotate each through the shared atomic path with bounded
 * concurrency, and report `{due, refreshed, skipped, failed, needsReauth}`.
 */

export interface RefreshSummary {
  /** Distinct grants the indexes returned as due. */
  readonly due: number;
  readonly refreshed: number;
  /** Claimed elsewhere, left for the next run (throttled, out of time) or garbage deleted. */
  readonly skipped: number;
  readonly failed: number;
  readonly needsReauth: number;
}

export interface RefreshJobConfig {
  /** REFRESH_WINDOW_DAYS in ms. */
  readonly refreshWindowMs: number;
  /** ACCESS_WARM_WINDOW_MINUTES in ms; 0 = the access-expiry index is not queried. */
  readonly accessWarmWindowMs: number;
  /** REFRESH_CONCURRENCY. */
  readonly concurrency: number;
}

/** `clock`: the rotation's wall clock, for the time left (never for "what is due"). */
export interface RefreshJobDeps extends Pick<TokenRotationDeps, 'logger' | 'metrics' | 'clock'> {
  readonly tokens: Pick<TokenStore, 'listDue'>;
  readonly rotation: TokenRotation;
  readonly config: RefreshJobConfig;
  /**
   * Applies the pairs earlier rotations parked in the recovery queue, before anything is selected: a parked
   * grant still stores the rotated refresh token, which a refresh of this run would present after its reuse
   * window (invalid_grant). Grants whose pair stays pending are not refreshed in this run.
   */
  readonly recovery?: RecoveryApplier;
  /** Counts the ACTIVE grants for the `ConnectedGrants` gauge; a failure to count never fails the run. */
  readonly census?: GrantCensus;
}

export interface RefreshRun {
  /** "Now" of the run (the scheduled event's time): decides what is due and what has expired. */
  readonly now: number;
  /** Wall-clock epoch ms at which the invocation ends. */
  readonly endsAt: number;
  /** Identifies the run in lease owners and logs (the Lambda request id). */
  readonly runId: string;
}

/**
 * No refresh is started with less time left. Claim and exchange (with a retry) take up to ~15 s; the rest is the
 * persist's runway: its retries ride out a 30 s DynamoDB or KMS outage inside the invocation, and the last
 * PARK_RESERVE_MS park the pair if the outage lasts longer.
 */
export const MIN_TIME_TO_START_MS = 60_000;
/** Kept back at the end of the invocation for the summary, its log line and the metrics flush. */
export const END_RESERVE_MS = 2_000;

export interface RefreshJob {
  run(run: RefreshRun): Promise<RefreshSummary>;
}

export function createRefreshJob(deps: RefreshJobDeps): RefreshJob {
  const { logger, metrics, config } = deps;
  const clock = deps.clock ?? Date.now;

  async function selectDue(now: number): Promise<DueGrant[]> {
    const byRefresh = await deps.tokens.listDue('refresh', now + config.refreshWindowMs);
    if (config.accessWarmWindowMs <= 0) return byRefresh;
    const byAccess = await deps.tokens.listDue('access', now + config.accessWarmWindowMs);
    // Refresh-expiry order first (the grants closest to needing a re-connect), then the access-only ones.
    const seen = new Set(byRefresh.map((grant) => grant.grantId));
    return [...byRefresh, ...byAccess.filter((grant) => !seen.has(grant.grantId))];
  }

  async function countActiveGrants(): Promise<number | undefined> {
    try {
      return await deps.census?.activeGrants();
    } catch (error) {
      // Only the silence alarm reads it, and it stays quiet without the figure: not worth failing the run.
      logger.warn('Could not count the active grants', { error: error as Error });
      return undefined;
    }
  }

  return {
    async run({ now, endsAt, runId }) {
      // A failure to read the recovery queue fails the run, like a failure to read the index: refreshing
      // without knowing the parked pairs could present rotated tokens.
      const recovered = await deps.recovery?.applyPending({ endsAt: endsAt - MIN_TIME_TO_START_MS });
      const due = await selectDue(now);
      const gate = createRateGate();
      const counts = { refreshed: 0, skipped: 0, failed: 0, needsReauth: 0 };
      let stopReason: 'rate_limited' | 'client_rejected' | 'out_of_time' | undefined;

      const tally = (result: RotationResult): void => {
        switch (result.outcome) {
          case 'rotated':
            counts.refreshed += 1;
            return;
          case 'needs_reauth':
            counts.needsReauth += 1;
            return;
          case 'skipped':
            counts.skipped += 1;
            return;
          case 'throttled':
            // Nothing wrong with the grant: Smartcar asked us to slow down; it is due again next run.
            counts.skipped += 1;
            stopReason ??= 'rate_limited';
            return;
          case 'failed':
            counts.failed += 1;
            // Every further exchange would be refused the same way; the grants are fine.
            if (result.reason === 'client_rejected') stopReason ??= 'client_rejected';
            return;
        }
      };

      await settleWithConcurrency(due, config.concurrency, async (entry) => {
        if (gate.tripped) stopReason ??= 'rate_limited';
        if (stopReason === undefined && endsAt - clock() < MIN_TIME_TO_START_MS) stopReason = 'out_of_time';
        if (stopReason !== undefined || recovered?.pending.has(entry.grantId) === true) {
          counts.skipped += 1;
          return;
        }
        try {
          tally(
            await deps.rotation.rotate({
              grantId: entry.grantId,
              version: entry.version,
              now,
              endsAt: endsAt - END_RESERVE_MS,
              claimant: `job:${runId}`,
              gate,
            }),
          );
        } catch (error) {
          counts.failed += 1;
          logger.error('Refresh failed unexpectedly', { grantId: entry.grantId, error: error as Error });
        }
      });

      const summary: RefreshSummary = { due: due.length, ...counts };
      metrics.addMetric('TokenRefreshDue', MetricUnit.Count, summary.due);
      metrics.addMetric('TokenRefreshRefreshed', MetricUnit.Count, summary.refreshed);
      metrics.addMetric('TokenRefreshSkipped', MetricUnit.Count, summary.skipped);
      metrics.addMetric('TokenRefreshFailed', MetricUnit.Count, summary.failed);
      metrics.addMetric('TokenRefreshNeedsReauth', MetricUnit.Count, summary.needsReauth);
      const connectedGrants = await countActiveGrants();
      if (connectedGrants !== undefined) {
        metrics.addMetric(METRICS.connectedGrants, MetricUnit.Count, connectedGrants);
      }
      logger.info('Token refresh run finished', {
        summary,
        now: new Date(now).toISOString(),
        ...(stopReason !== undefined && { stoppedEarly: stopReason }),
        ...(recovered !== undefined && {
          recovery: {
            applied: recovered.applied,
            stale: recovered.stale,
            pending: recovered.pending.size,
            malformed: recovered.malformed,
          },
        }),
      });
      return summary;
    },
  };
}
