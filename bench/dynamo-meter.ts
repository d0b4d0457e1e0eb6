import type { ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Counts every DynamoDB request a client sends (one per command, whatever the client is wrapped in: the
 * DocumentClient shares its middleware stack) and sums the write and read units DynamoDB reports. Asks for
 * `ReturnConsumedCapacity: TOTAL` on every command, so the figures exist even where the code does not ask.
 */
export interface DynamoMeter {
  readonly requests: number;
  readonly byCommand: Readonly<Record<string, number>>;
  readonly writeUnits: number;
  readonly readUnits: number;
  reset(): void;
}

const CAPACITY_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'GetItemCommand',
  'QueryCommand',
  'ScanCommand',
  'BatchWriteItemCommand',
  'BatchGetItemCommand',
  'TransactWriteItemsCommand',
  'TransactGetItemsCommand',
]);

const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

/** Write and read units of a response; a bare `CapacityUnits` counts as the command's kind of unit. */
function units(commandName: string, capacity: unknown): { write: number; read: number } {
  const list = (Array.isArray(capacity) ? capacity : capacity ? [capacity] : []) as ConsumedCapacity[];
  let write = 0;
  let read = 0;
  for (const entry of list) {
    if (entry.WriteCapacityUnits !== undefined || entry.ReadCapacityUnits !== undefined) {
      write += entry.WriteCapacityUnits ?? 0;
      read += entry.ReadCapacityUnits ?? 0;
    } else if (WRITE_COMMANDS.has(commandName)) write += entry.CapacityUnits ?? 0;
    else read += entry.CapacityUnits ?? 0;
  }
  return { write, read };
}

export function meterDynamo(client: DynamoDBClient): DynamoMeter {
  const state = { requests: 0, byCommand: {} as Record<string, number>, writeUnits: 0, readUnits: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const commandName = context.commandName ?? 'unknown';
      state.requests++;
      state.byCommand[commandName] = (state.byCommand[commandName] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      if (CAPACITY_COMMANDS.has(commandName) && input.ReturnConsumedCapacity === undefined) {
        input.ReturnConsumedCapacity = 'TOTAL';
      }
      const result = await next(args);
      const counted = units(commandName, (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity);
      state.writeUnits += counted.write;
      state.readUnits += counted.read;
      return result;
    },
    { step: 'initialize', name: 'benchDynamoMeter', priority: 'high' },
  );
  return {
    get requests() {
      return state.requests;
    },
    get byCommand() {
      return state.byCommand;
    },
    get writeUnits() {
      return state.writeUnits;
    },
    get readUnits() {
      return state.readUnits;
    },
    reset() {
      state.requests = 0;
      state.byCommand = {};
      state.writeUnits = 0;
      state.readUnits = 0;
    },
  };
}
