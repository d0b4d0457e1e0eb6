import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ORIGIN_VERIFY_HEADER } from '../../contracts/edge.js';
import { METRICS } from '../../contracts/metrics.js';
import { header, problem } from '../runtime/http.js';
import { countFailure } from '../runtime/metrics.js';

/** Decides whether a request came through the edge front (CloudFront adds the origin-verify header). */
export interface OriginLock {
  /** Throws when the expected value cannot be read (our failure: the caller answers 5xx). */
  admits(headerValue: string | undefined): Promise<boolean>;
}

/** As long as the receiver caches the Smartcar secret: one Secrets Manager read per container and period. */
const CACHE_SECONDS = 300;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * The expected value from the edge front's generated secret (cached by Powertools Parameters), compared in
 * constant time: both sides are hashed first so that neither the length nor a prefix leaks through timing.
 */
export function secretOriginLock(secretId: string, client: SecretsManagerClient): OriginLock {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  // The digest of the value last read: the provider hands back the same cached value for 5 minutes.
  let last: { readonly value: string; readonly digest: Buffer } | undefined;
  return {
    async admits(headerValue) {
      const expected = await provider.get(secretId, { maxAge: CACHE_SECONDS });
      if (typeof expected !== 'string' || expected.length < 16) {
        throw new Error(`Edge origin secret ${secretId} holds no usable value`);
      }
      if (last?.value !== expected) last = { value: expected, digest: digest(expected) };
      if (headerValue === undefined || headerValue.length === 0) return false;
      return timingSafeEqual(digest(headerValue), last.digest);
    },
  };
}

export interface OriginCheckDeps {
  readonly lock: OriginLock;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * `undefined` when the request may go on (it came through the front); else the answer:
 * 403 for a request that went around the front, 500 when the lock cannot be read (so Smartcar retries; the
 * callback turns that into its failure page). Nothing from the request is logged: it is unauthenticated.
 */
export async function refuseUnlessViaEdge(
  event: APIGatewayProxyEventV2,
  deps: OriginCheckDeps,
): Promise<APIGatewayProxyStructuredResultV2 | undefined> {
  let admitted: boolean;
  try {
    admitted = await deps.lock.admits(header(event.headers, ORIGIN_VERIFY_HEADER));
  } catch (error) {
    deps.logger.error('Could not read the edge origin secret', { error: error as Error });
    return problem(500, 'internal_error', 'temporarily unable to accept requests');
  }
  if (admitted) return undefined;
  countFailure(deps.metrics, METRICS.edgeBypassRefused, 'not_via_edge');
  deps.logger.warn('Request refused: it did not come through the edge front', { status: 403 });
  return problem(403, 'forbidden', 'this endpoint only accepts requests through its CloudFront front');
}
