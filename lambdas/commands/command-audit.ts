import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalFailure } from '../runtime/dynamo-errors.js';
import type { CommandName } from './command-request.js';
import type { AuditStatus, CommandError, StoredAnswer } from './command-outcome.js';

/**
 * The command audit table (docs/design.md, "Command audit table"): partition key `vehicleId`, sort key `sk`,
 * TTL `expiresAt`.
 *
 * - `CMD#<requestedAt, 13 digits>#<commandId>`: one item per command attempt, written PENDING before Smartcar is
 *   called and updated once after, so a crash in between leaves a trace (shown as UNKNOWN once `pendingUntil`,
 *   the writer's invocation end, has passed). Sorted by time: newest first is a reverse Query.
 * - `KEY#<Idempotency-Key>`: the key's claim (request fingerprint, the command it belongs to), created in the
 *   same transaction as the command's PENDING item, so a key never exists without its command and two
 *   concurrent requests with one key cannot both create a command: exactly one Smartcar call.
 */

export const COMMAND_SK_PREFIX = 'CMD#';
export const KEY_SK_PREFIX = 'KEY#';
/** How long an Idempotency-Key holds (the 24 h). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export function commandSk(requestedAt: number, commandId: string): string {
  return `${COMMAND_SK_PREFIX}${String(requestedAt).padStart(13, '0')}#${commandId}`;
}

export interface AuditRecord {
  readonly vehicleId: string;
  readonly sk: string;
  readonly commandId: string;
  readonly command: CommandName;
  readonly limit?: number;
  readonly requestedBy?: string;
  /** Epoch ms. */
  readonly requestedAt: number;
  readonly status: AuditStatus;
  /** Epoch ms after which a PENDING item can no longer be finished by its writer. */
  readonly pendingUntil?: number;
  readonly error?: CommandError;
  readonly smartcarRequestId?: string;
  readonly confirmedAt?: number;
  readonly idempotencyKey?: string;
  /** The HTTP answer given, for idempotent replays. */
  readonly answer?: StoredAnswer;
}

export interface NewCommand {
  readonly vehicleId: string;
  readonly commandId: string;
  readonly command: CommandName;
  readonly limit?: number;
  readonly requestedBy?: string;
  readonly requestedAt: number;
  readonly pendingUntil: number;
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
}

export interface KeyClaim {
  readonly fingerprint: string;
  readonly commandSk: string;
}

export type BeginResult =
  | { readonly started: true; readonly record: AuditRecord }
  /** The key was taken (by an earlier or a concurrent request): answer from its command, never call again. */
  | { readonly started: false; readonly claim: KeyClaim };

export interface Finish {
  readonly status: 'SENT' | 'FAILED' | 'UNKNOWN';
  readonly error?: CommandError;
  readonly smartcarRequestId?: string;
  readonly answer: StoredAnswer;
  readonly finishedAt: number;
}

export interface AuditPage {
  readonly records: AuditRecord[];
  readonly nextKey?: Record<string, unknown>;
}

export interface CommandAuditStore {
  /** The live claim of an Idempotency-Key (younger than 24 h), if any. Strongly consistent. */
  findKey(vehicleId: string, key: string, now: number): Promise<KeyClaim | undefined>;
  /** Writes the PENDING item (and the key's claim, atomically). */
  begin(input: NewCommand): Promise<BeginResult>;
  /** PENDING → the outcome; conditional on still being PENDING (a second finish never overwrites the first). */
  finish(vehicleId: string, sk: string, outcome: Finish): Promise<void>;
  get(vehicleId: string, sk: string): Promise<AuditRecord | undefined>;
  /** Newest first. */
  list(vehicleId: string, limit: number, startKey?: Record<string, unknown>): Promise<AuditPage>;
  /**
   * The vehicle's commands requested in (`from`, `to`), newest first, at most `limit`: the one small Query the
   * processor makes per event that carries a confirmable signal.
   */
  listRequestedBetween(vehicleId: string, from: number, to: number, limit: number): Promise<AuditRecord[]>;
  /** SENT → CONFIRMED if it is still SENT; false when it was not. */
  confirm(vehicleId: string, sk: string, confirmedAt: number): Promise<boolean>;
}

const STATUSES: readonly AuditStatus[] = ['PENDING', 'SENT', 'CONFIRMED', 'FAILED', 'UNKNOWN'];

function parseAnswer(value: unknown): StoredAnswer | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed = JSON.parse(value) as StoredAnswer;
    return typeof parsed.statusCode === 'number' && typeof parsed.body === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function errorOf(value: unknown): CommandError | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  return {
    type: typeof record.type === 'string' ? record.type : null,
    code: typeof record.code === 'string' ? record.code : null,
  };
}

export function auditFromItem(item: Record<string, unknown>): AuditRecord | undefined {
  const { vehicleId, sk, commandId, command, requestedAt, status } = item;
  if (
    typeof vehicleId !== 'string' ||
    typeof sk !== 'string' ||
    typeof commandId !== 'string' ||
    typeof command !== 'string' ||
    typeof requestedAt !== 'number' ||
    typeof status !== 'string' ||
    !(STATUSES as readonly string[]).includes(status)
  ) {
    return undefined;
  }
  const error = errorOf(item.error);
  const answer = parseAnswer(item.answer);
  return {
    vehicleId,
    sk,
    commandId,
    command: command as CommandName,
    requestedAt,
    status: status as AuditStatus,
    ...(typeof item.limit === 'number' && { limit: item.limit }),
    ...(typeof item.requestedBy === 'string' && { requestedBy: item.requestedBy }),
    ...(typeof item.pendingUntil === 'number' && { pendingUntil: item.pendingUntil }),
    ...(error && { error }),
    ...(typeof item.smartcarRequestId === 'string' && { smartcarRequestId: item.smartcarRequestId }),
    ...(typeof item.confirmedAt === 'number' && { confirmedAt: item.confirmedAt }),
    ...(typeof item.idempotencyKey === 'string' && { idempotencyKey: item.idempotencyKey }),
    ...(answer && { answer }),
  };
}

/** A TransactWriteItems cancelled because the key's claim (its first item) already exists. */
function keyTaken(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return reasons?.[0]?.Code === 'ConditionalCheckFailed';
}

export function dynamoCommandAudit(options: {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long command items are kept (context `commandAuditDays`). */
  readonly retentionDays: number;
}): CommandAuditStore {
  const { client, tableName } = options;
  const retentionMs = options.retentionDays * DAY_MS;

  async function findKey(vehicleId: string, key: string, now: number): Promise<KeyClaim | undefined> {
    const result = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: { vehicleId, sk: `${KEY_SK_PREFIX}${key}` },
        ConsistentRead: true,
      }),
    );
    const item = result.Item;
    // TTL deletion is lazy: an expired claim is treated as gone (and overwritten by the next begin).
    if (!item || typeof item.createdAt !== 'number' || item.createdAt <= now - IDEMPOTENCY_WINDOW_MS) {
      return undefined;
    }
    if (typeof item.fingerprint !== 'string' || typeof item.commandSk !== 'string') return undefined;
    return { fingerprint: item.fingerprint, commandSk: item.commandSk };
  }

  return {
    findKey,

    async begin(input) {
      const sk = commandSk(input.requestedAt, input.commandId);
      const record: AuditRecord = {
        vehicleId: input.vehicleId,
        sk,
        commandId: input.commandId,
        command: input.command,
        requestedAt: input.requestedAt,
        status: 'PENDING',
        pendingUntil: input.pendingUntil,
        ...(input.limit !== undefined && { limit: input.limit }),
        ...(input.requestedBy !== undefined && { requestedBy: input.requestedBy }),
        ...(input.idempotency && { idempotencyKey: input.idempotency.key }),
      };
      const commandItem = {
        ...record,
        ...(input.idempotency && { fingerprint: input.idempotency.fingerprint }),
        expiresAt: Math.floor((input.requestedAt + retentionMs) / 1000),
      };
      const putCommand = {
        TableName: tableName,
        Item: commandItem,
        ConditionExpression: 'attribute_not_exists(sk)',
      };
      if (!input.idempotency) {
        await client.send(new PutCommand(putCommand));
        return { started: true, record };
      }
      const { key, fingerprint } = input.idempotency;
      try {
        await client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: tableName,
                  Item: {
                    vehicleId: input.vehicleId,
                    sk: `${KEY_SK_PREFIX}${key}`,
                    fingerprint,
                    commandSk: sk,
                    createdAt: input.requestedAt,
                    expiresAt: Math.floor((input.requestedAt + IDEMPOTENCY_WINDOW_MS) / 1000),
                  },
                  // Free, or older than the window (TTL may not have deleted it yet).
                  ConditionExpression: 'attribute_not_exists(sk) OR createdAt <= :cutoff',
                  ExpressionAttributeValues: { ':cutoff': input.requestedAt - IDEMPOTENCY_WINDOW_MS },
                },
              },
              { Put: putCommand },
            ],
          }),
        );
        return { started: true, record };
      } catch (error) {
        if (!keyTaken(error)) throw error;
        const claim = await findKey(input.vehicleId, key, input.requestedAt);
        // Taken but unreadable as live: only if it expired in between; the caller treats it as a conflict.
        if (!claim) throw error;
        return { started: false, claim };
      }
    },

    async finish(vehicleId, sk, outcome) {
      const values: Record<string, unknown> = {
        ':status': outcome.status,
        ':answer': JSON.stringify(outcome.answer),
        ':finishedAt': outcome.finishedAt,
        ':pending': 'PENDING',
      };
      const sets = ['#status = :status', 'answer = :answer', 'finishedAt = :finishedAt'];
      if (outcome.error) {
        sets.push('#error = :error');
        values[':error'] = { type: outcome.error.type, code: outcome.error.code };
      }
      if (outcome.smartcarRequestId !== undefined) {
        sets.push('smartcarRequestId = :requestId');
        values[':requestId'] = outcome.smartcarRequestId;
      }
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { vehicleId, sk },
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: '#status = :pending',
            ExpressionAttributeNames: { '#status': 'status', ...(outcome.error && { '#error': 'error' }) },
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        // Already finished (cannot happen with one writer per item, but never overwrite an outcome).
        if (!isConditionalFailure(error)) throw error;
      }
    },

    async get(vehicleId, sk) {
      const result = await client.send(
        new GetCommand({ TableName: tableName, Key: { vehicleId, sk }, ConsistentRead: true }),
      );
      return result.Item ? auditFromItem(result.Item) : undefined;
    },

    async list(vehicleId, limit, startKey) {
      const result = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'vehicleId = :v AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':v': vehicleId, ':prefix': COMMAND_SK_PREFIX },
          ScanIndexForward: false,
          Limit: limit,
          ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
        }),
      );
      const records = (result.Items ?? [])
        .map((item) => auditFromItem(item))
        .filter((record): record is AuditRecord => record !== undefined);
      return {
        records,
        ...(result.LastEvaluatedKey !== undefined && { nextKey: result.LastEvaluatedKey }),
      };
    },

    async listRequestedBetween(vehicleId, from, to, limit) {
      const result = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'vehicleId = :v AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':v': vehicleId,
            ':from': commandSk(Math.max(0, from), ''),
            // Requested strictly before `to`: every sk of an earlier millisecond sorts below this bound.
            ':to': commandSk(Math.max(0, to - 1), '\uffff'),
          },
          ProjectionExpression: 'vehicleId, sk, commandId, command, requestedAt, #status',
          ExpressionAttributeNames: { '#status': 'status' },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (result.Items ?? [])
        .map((item) => auditFromItem(item))
        .filter((record): record is AuditRecord => record !== undefined);
    },

    async confirm(vehicleId, sk, confirmedAt) {
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { vehicleId, sk },
            UpdateExpression: 'SET #status = :confirmed, confirmedAt = :at',
            ConditionExpression: '#status = :sent AND requestedAt < :at',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':confirmed': 'CONFIRMED', ':sent': 'SENT', ':at': confirmedAt },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalFailure(error)) return false;
        throw error;
      }
    },
  };
}
