import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from '@aws-lambda-powertools/logger';
import { asObject, parseObject } from '../runtime/json.js';
import type { TokenSet } from '../smartcar/gateway.js';
import type { VehicleReauthMarker } from '../vehicles/vehicle-links.js';
import { GrantConflictError, GRANT_NEEDS_REAUTH, type GrantRecord } from './grant.js';
import type { TokenStore } from './token-store.js';

/*
 * The durable fallback of a rotation (docs/design.md, "Failures", "A rotated pair that cannot be stored").
 *
 * Once Smartcar has answered with a new pair, the stored refresh token is the rotated one: it works for about a
 * minute more, then only the new pair does. When the pair cannot be written to the token table before the
 * invocation ends (DynamoDB or KMS down), the rotation PARKS it: sealed (see RecoverySealer) and sent to the
 * recovery queue. The next run APPLIES every parked pair before it selects due grants:
 *   - applied   the grant still has the version that was claimed: the pair is written as if its persist had
 *               landed (version + 1, lease removed), also over a NEEDS_REAUTH mark of that same version (a
 *               claimant that tried the rotated token after its reuse window), whose vehicles are set back;
 *   - already   an earlier apply (or the late persist itself) landed: `rotatedBy` is the parking owner;
 *   - stale     the grant has moved on (another claimant rotated within the reuse window): nothing to do;
 *   - gone      the grant was deleted (last vehicle disconnected);
 *   - pending   could not be applied now (storage or KMS still failing, another claimant's live lease): the
 *               message stays in the queue and this run does not refresh that grant.
 */

/** Who parked which pair for which claim: the cleartext part of a recovery message. */
export interface ParkedRotation {
  readonly grantId: string;
  readonly appUserId: string;
  /** The version the rotation claimed; the pair replaces exactly that version's tokens. */
  readonly claimedVersion: number;
  /** The claim's lease owner: written as `rotatedBy`, so a repeated apply is recognised. */
  readonly owner: string;
  /** Wall-clock epoch ms of the parking. */
  readonly parkedAt: number;
  readonly accessExpiresAt: number;
  readonly refreshExpiresAt: number;
}

/** A recovery message: the cleartext part, the data key (a KMS ciphertext) and the sealed tokens. */
export interface SealedRotation extends ParkedRotation {
  readonly v: 1;
  /** Base64 KMS ciphertext of the AES-256 data key (encryption context: the grant, tokenType `recovery`). */
  readonly dataKey: string;
  /** Base64 AES-256-GCM IV, tag and ciphertext of `{"accessToken","refreshToken"}`. */
  readonly iv: string;
  readonly tag: string;
  readonly ciphertext: string;
}

/** Seals one rotation's pair locally, with the data key fetched before its exchange. */
export interface PairSeal {
  /** No network: works while KMS is down. */
  seal(parked: ParkedRotation, tokens: Pick<TokenSet, 'accessToken' | 'refreshToken'>): SealedRotation;
  /** Overwrites the data key in memory. */
  discard(): void;
}

export interface RecoverySealer {
  /**
   * Before the exchange: a data key bound to the grant (KMS GenerateDataKey), so that parking the pair later
   * needs no KMS call. A rotation does not call Smartcar without one.
   */
  prepare(grant: Pick<GrantRecord, 'grantId' | 'appUserId'>): Promise<PairSeal>;
  /** The pair of a message (KMS Decrypt of its data key); RecoveryMessageError when it is not authentic. */
  open(message: SealedRotation): Promise<Pick<TokenSet, 'accessToken' | 'refreshToken'>>;
}

/** A recovery message that is not one, or does not decrypt under its grant: never retried into success. */
export class RecoveryMessageError extends Error {
  override readonly name = 'RecoveryMessageError';
}

export interface RecoveryQueueMessage {
  readonly body: string;
  readonly receipt: string;
}

/** The recovery queue (SQS adapter: sqs-recovery-queue.ts). */
export interface RecoveryQueue {
  send(body: string): Promise<void>;
  /** Up to `max` messages (fewer, or none, when the queue is empty). */
  receive(max: number): Promise<RecoveryQueueMessage[]>;
  delete(receipt: string): Promise<void>;
}

const NUMBER_FIELDS = ['claimedVersion', 'parkedAt', 'accessExpiresAt', 'refreshExpiresAt'] as const;
const STRING_FIELDS = ['grantId', 'appUserId', 'owner', 'dataKey', 'iv', 'tag', 'ciphertext'] as const;

export function encodeRecoveryMessage(message: SealedRotation): string {
  return JSON.stringify(message);
}

/** The message, or undefined when the body is not a recovery message of this format. */
export function decodeRecoveryMessage(body: string): SealedRotation | undefined {
  const value = parseObject(body);
  if (value?.v !== 1) return undefined;
  for (const field of NUMBER_FIELDS) {
    const n = value[field];
    if (typeof n !== 'number' || !Number.isFinite(n)) return undefined;
  }
  for (const field of STRING_FIELDS) {
    if (typeof value[field] !== 'string' || value[field] === '') return undefined;
  }
  return value as unknown as SealedRotation;
}

/** The additional authenticated data of the seal: every cleartext field, so none can be altered. */
export function recoveryAad(parked: ParkedRotation): Buffer {
  return Buffer.from(
    JSON.stringify([
      1,
      parked.grantId,
      parked.appUserId,
      parked.claimedVersion,
      parked.owner,
      parked.parkedAt,
      parked.accessExpiresAt,
      parked.refreshExpiresAt,
    ]),
    'utf8',
  );
}

/** Parses the sealed plaintext back into the two tokens. */
export function readSealedTokens(plaintext: string): Pick<TokenSet, 'accessToken' | 'refreshToken'> {
  const value = asObject(JSON.parse(plaintext));
  if (typeof value?.accessToken !== 'string' || typeof value.refreshToken !== 'string') {
    throw new RecoveryMessageError('the sealed pair is not a token pair');
  }
  return { accessToken: value.accessToken, refreshToken: value.refreshToken };
}

export interface RecoveryReport {
  readonly applied: number;
  readonly stale: number;
  /** Grants with a parked pair that could not be applied: the run must not rotate them. */
  readonly pending: ReadonlySet<string>;
  readonly malformed: number;
}

export interface RecoveryApplierDeps {
  readonly queue: RecoveryQueue;
  readonly sealer: Pick<RecoverySealer, 'open'>;
  readonly tokens: Pick<TokenStore, 'applyParkedRotation' | 'getGrant'>;
  readonly profiles: Pick<VehicleReauthMarker, 'clearNeedsReauth'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock?: () => number;
}

/** Messages per ReceiveMessage (the SQS maximum). */
const RECEIVE_BATCH = 10;
/** A run applies at most this many parked pairs (far more than one run can park: REFRESH_CONCURRENCY × runs). */
const MAX_MESSAGES_PER_RUN = 1_000;

export interface RecoveryApplier {
  /** Applies every parked pair in the queue; a failure to read the queue is thrown (the run must not go on). */
  applyPending(options: { readonly endsAt: number }): Promise<RecoveryReport>;
}

export function createRecoveryApplier(deps: RecoveryApplierDeps): RecoveryApplier {
  const { logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;

  type Outcome = 'applied' | 'already' | 'stale' | 'gone' | 'pending' | 'malformed';

  async function restoreVehicles(grant: GrantRecord, at: number): Promise<void> {
    await deps.profiles.clearNeedsReauth(grant.vehicleIds, grant.grantId, at);
  }

  async function applyOne(message: SealedRotation): Promise<Outcome> {
    let pair;
    try {
      pair = await deps.sealer.open(message);
    } catch (error) {
      if (error instanceof RecoveryMessageError) return 'malformed';
      logger.warn('Could not open a parked token pair; left in the queue', {
        grantId: message.grantId,
        error: error as Error,
      });
      return 'pending';
    }
    const tokens: TokenSet = {
      ...pair,
      accessExpiresAt: message.accessExpiresAt,
      refreshExpiresAt: message.refreshExpiresAt,
    };
    const at = clock();
    try {
      const previous = await deps.tokens.applyParkedRotation(message, tokens, at);
      // A claimant that tried the rotated token after its reuse window marked the grant (and its vehicles)
      // NEEDS_REAUTH at this same version; the parked pair is newer than that verdict.
      if (previous.status === GRANT_NEEDS_REAUTH) await restoreVehicles(previous, at);
      return 'applied';
    } catch (error) {
      if (!(error instanceof GrantConflictError)) {
        logger.warn('Could not apply a parked token pair; left in the queue', {
          grantId: message.grantId,
          error: error as Error,
        });
        return 'pending';
      }
    }
    try {
      const current = await deps.tokens.getGrant(message.grantId);
      if (current === undefined) return 'gone';
      if (current.version === message.claimedVersion + 1 && current.rotatedBy === message.owner) {
        // Applied before (its message deletion failed) or the persist landed late: the vehicles may still
        // wait for their restore.
        await restoreVehicles(current, at);
        return 'already';
      }
      if (current.version > message.claimedVersion) return 'stale';
      // Same version under another claimant's live lease: try again next run.
      return 'pending';
    } catch (error) {
      logger.warn('Could not re-read the grant of a parked token pair', {
        grantId: message.grantId,
        error: error as Error,
      });
      return 'pending';
    }
  }

  return {
    async applyPending({ endsAt }) {
      let applied = 0;
      let stale = 0;
      let malformed = 0;
      const pending = new Set<string>();
      for (let seen = 0; seen < MAX_MESSAGES_PER_RUN && clock() < endsAt;) {
        const batch = await deps.queue.receive(RECEIVE_BATCH);
        if (batch.length === 0) break;
        seen += batch.length;
        for (const received of batch) {
          const message = decodeRecoveryMessage(received.body);
          const outcome = message === undefined ? 'malformed' : await applyOne(message);
          if (outcome === 'malformed' || message === undefined) {
            // Left in the queue: after maxReceiveCount receives it reaches the DLQ, which pages.
            malformed += 1;
            logger.error(
              'A recovery message is not a sealed token pair of this application; left for the DLQ',
            );
            continue;
          }
          if (outcome === 'pending') {
            pending.add(message.grantId);
            continue;
          }
          if (outcome === 'applied') {
            applied += 1;
            logger.info('Applied a parked token pair', {
              grantId: message.grantId,
              parkedAt: new Date(message.parkedAt).toISOString(),
            });
          } else if (outcome === 'stale') {
            stale += 1;
            logger.info('A parked token pair was superseded by a later rotation', {
              grantId: message.grantId,
            });
          }
          try {
            await deps.queue.delete(received.receipt);
          } catch (error) {
            // It comes back after the visibility timeout and is then recognised as already applied.
            logger.warn('Could not delete an applied recovery message', {
              grantId: message.grantId,
              error: error as Error,
            });
          }
        }
      }
      if (applied > 0) metrics.addMetric('TokenRecoveryApplied', MetricUnit.Count, applied);
      if (pending.size > 0) metrics.addMetric('TokenRecoveryPending', MetricUnit.Count, pending.size);
      return { applied, stale, pending, malformed };
    },
  };
}
