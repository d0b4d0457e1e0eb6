import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';

/** What every domain function that calls Smartcar is given besides its stores and gateways. */
export interface SmartcarCallDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** SMARTCAR_TIMEOUT_MS: limit of one Smartcar request. */
  readonly smartcarTimeoutMs: number;
}
