import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { asObject } from '../runtime/json.js';
import { isValidVehicleId, type VehicleMode } from '../vehicles/vehicle-keys.js';
import {
  UnprocessableEventError,
  type NormalizedEvent,
  type NormalizedSignal,
  type TriggerRef,
  type VehicleErrorReport,
  type VehicleRef,
} from './event.js';

/**
 * Lenient parsing of a webhook body into one normalized event.
 *
 * Real deliveries differ from the docs (see test/fixtures/webhook-captures/README.md), so every object is
 * loose (unknown fields are kept, never rejected) and a field of an unexpected type degrades to "absent"
 * instead of failing the whole event. Only what we cannot do without — valid JSON, an event type we can route,
 * a vehicle id for vehicle events — makes the body unprocessable.
 */

// ---------------------------------------------------------------------------------------------------------------
// Field-level leniency: a wrong type becomes `undefined` (`.catch`) rather than an error for the whole body.

const text = z.string().check(z.trim(), z.minLength(1));
const optionalText = z.catch(z.optional(text), undefined);
/** Smartcar sends `null` for "no code" / "no resolution type"; keep null distinct from absent. */
const nullableText = z.catch(z.optional(z.nullable(text)), undefined);

/** Epoch milliseconds as a number, a numeric string or an ISO-8601 string; anything else is absent. */
export function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.trunc(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return toEpochMs(Number(trimmed));
  const parsed = Date.parse(trimmed);
  return Number.isNaN(parsed) ? undefined : parsed;
}

const timestamp = z.pipe(z.optional(z.unknown()), z.transform(toEpochMs));
const year = z.catch(
  z.optional(
    z.union([
      z.number().check(z.int()),
      z.pipe(z.string().check(z.trim(), z.regex(/^\d{4}$/)), z.transform(Number)),
    ]),
  ),
  undefined,
);
const looseRecord = z.record(z.string(), z.unknown());
const list = z.catch(z.optional(z.array(z.unknown())), undefined);

const signalRefObject = z.looseObject({ code: optionalText, name: optionalText, group: optionalText });

const signalSchema = z.looseObject({
  code: optionalText,
  name: optionalText,
  group: optionalText,
  body: z.optional(z.unknown()),
  meta: z.catch(
    z.optional(z.looseObject({ oemUpdatedAt: timestamp, retrievedAt: timestamp, fetchedAt: timestamp })),
    undefined,
  ),
  status: z.catch(
    z.optional(
      z.looseObject({
        value: optionalText,
        error: z.catch(z.optional(z.looseObject({ type: nullableText, code: nullableText })), undefined),
      }),
    ),
    undefined,
  ),
});

const triggerSchema = z.union([
  text,
  z.looseObject({
    type: optionalText,
    signal: z.catch(z.optional(z.union([text, signalRefObject])), undefined),
  }),
]);

const vehicleErrorSchema = z.looseObject({
  type: optionalText,
  code: nullableText,
  description: optionalText,
  resolution: z.catch(z.optional(z.nullable(looseRecord)), undefined),
  state: optionalText,
  signals: list,
});

const v4Schema = z.looseObject({
  eventId: optionalText,
  eventType: optionalText,
  vehicleId: optionalText,
  userId: optionalText,
  triggers: list,
  data: z.catch(
    z.optional(
      z.looseObject({
        vehicleId: optionalText,
        user: z.catch(z.optional(z.looseObject({ id: optionalText })), undefined),
        vehicle: z.catch(
          z.optional(z.looseObject({ id: optionalText, make: optionalText, model: optionalText, year })),
          undefined,
        ),
        signals: z.catch(z.optional(z.union([z.array(z.unknown()), looseRecord])), undefined),
        errors: list,
        triggers: list,
      }),
    ),
    undefined,
  ),
  meta: z.catch(z.optional(z.looseObject({ deliveredAt: timestamp, mode: optionalText })), undefined),
});

const v2Schema = z.looseObject({
  version: optionalText,
  eventName: optionalText,
  mode: optionalText,
  payload: z.optional(z.unknown()),
});

// ---------------------------------------------------------------------------------------------------------------
// Signal identities.

/** "TractionBattery.StateOfCharge" → "tractionbattery-stateofcharge"; a string without a dot is taken as a code. */
export function codeFromPath(path: string): string | undefined {
  const trimmed = path.trim();
  if (trimmed === '') return undefined;
  const dot = trimmed.indexOf('.');
  if (dot < 0) return trimmed.toLowerCase();
  return codeFromGroupName(trimmed.slice(0, dot), trimmed.slice(dot + 1));
}

export function codeFromGroupName(group: string | undefined, name: string | undefined): string | undefined {
  if (!group || !name) return undefined;
  return `${group.trim()}-${name.trim()}`.toLowerCase();
}

/** A signal reference as a string ("Group.Name" or a code) or an object; `code` wins (one capture swaps name/group). */
function signalRefCode(ref: unknown): string | undefined {
  if (typeof ref === 'string') return codeFromPath(ref);
  const parsed = signalRefObject.safeParse(ref);
  if (!parsed.success) return undefined;
  return parsed.data.code?.toLowerCase() ?? codeFromGroupName(parsed.data.group, parsed.data.name);
}

// ---------------------------------------------------------------------------------------------------------------
// Signals: an array of {code,name,group,body,meta,status} (captures) or an object keyed by "Group.Name" (docs).

const SIGNAL_ENVELOPE_KEYS = new Set(['code', 'name', 'group', 'meta', 'status']);

/** Docs-style entry: `{ "value": 85, "unit": "percent", "meta": {…} }` — the entry itself is the body. */
function keyedEntryToSignal(key: string, entry: unknown): unknown {
  const dot = key.indexOf('.');
  const identity =
    dot > 0 ? { group: key.slice(0, dot), name: key.slice(dot + 1) } : { code: key.trim().toLowerCase() };
  const record = asObject(entry);
  if (record === undefined) return { ...identity, body: entry };
  if ('body' in record) return { ...identity, ...record };
  const body = Object.fromEntries(
    Object.entries(record).filter(([field]) => !SIGNAL_ENVELOPE_KEYS.has(field)),
  );
  return { ...identity, ...record, body };
}

function normalizeSignal(raw: unknown): NormalizedSignal | undefined {
  const parsed = signalSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const signal = parsed.data;
  const code = signal.code?.toLowerCase() ?? codeFromGroupName(signal.group, signal.name);
  if (!code) return undefined;
  const identity = {
    code,
    ...(signal.name !== undefined && { name: signal.name }),
    ...(signal.group !== undefined && { group: signal.group }),
  };
  const status = signal.status as Record<string, unknown> | undefined;
  if (signal.status?.value?.toUpperCase() === 'ERROR') {
    return {
      kind: 'error',
      ...identity,
      status: status ?? { value: 'ERROR' },
      error: { type: signal.status.error?.type ?? null, code: signal.status.error?.code ?? null },
    };
  }
  // No body and no error says nothing about the signal; writing it would replace a good value with nothing.
  if (signal.body === undefined) return undefined;
  const oemUpdatedAt = signal.meta?.oemUpdatedAt;
  const retrievedAt = signal.meta?.retrievedAt ?? signal.meta?.fetchedAt;
  return {
    kind: 'value',
    ...identity,
    body: signal.body,
    ...(status !== undefined && { status }),
    ...(oemUpdatedAt !== undefined && { oemUpdatedAt }),
    ...(retrievedAt !== undefined && { retrievedAt }),
  };
}

function normalizeSignals(signals: unknown[] | Record<string, unknown> | undefined): {
  signals: NormalizedSignal[];
  unreadable: number;
} {
  const entries = Array.isArray(signals)
    ? signals
    : Object.entries(signals ?? {}).map(([key, entry]) => keyedEntryToSignal(key, entry));
  const result: NormalizedSignal[] = [];
  let unreadable = 0;
  for (const entry of entries) {
    const signal = normalizeSignal(entry);
    if (signal) result.push(signal);
    else unreadable += 1;
  }
  return { signals: result, unreadable };
}

function normalizeTriggers(triggers: unknown[] | undefined): TriggerRef[] {
  const result: TriggerRef[] = [];
  for (const raw of triggers ?? []) {
    const parsed = triggerSchema.safeParse(raw);
    if (!parsed.success) continue;
    if (typeof parsed.data === 'string') {
      const code = codeFromPath(parsed.data);
      result.push(code === undefined ? {} : { code });
      continue;
    }
    const code = signalRefCode(parsed.data.signal);
    result.push({
      ...(parsed.data.type !== undefined && { type: parsed.data.type }),
      ...(code !== undefined && { code }),
    });
  }
  return result;
}

function normalizeVehicleErrors(errors: unknown[] | undefined): VehicleErrorReport[] {
  const result: VehicleErrorReport[] = [];
  for (const raw of errors ?? []) {
    const parsed = vehicleErrorSchema.safeParse(raw);
    if (!parsed.success) continue;
    const error = parsed.data;
    const signals = (error.signals ?? [])
      .map(signalRefCode)
      .filter((code): code is string => code !== undefined);
    result.push({
      // An error without a type is still worth keeping for an operator; it gets its own bucket.
      type: error.type ?? 'UNKNOWN',
      code: error.code ?? null,
      ...(error.description !== undefined && { description: error.description }),
      resolution: error.resolution ?? null,
      state: error.state?.toUpperCase() === 'RESOLVED' ? 'RESOLVED' : 'ERROR',
      signals: [...new Set(signals)],
    });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Envelopes.

function sha256(raw: string): string {
  return createHash('sha256').update(raw, 'utf8').digest('hex');
}

function dedupeKeyOf(eventType: string, eventId: string | undefined, raw: string): string {
  // Scoped by event type: the captures show a VEHICLE_STATE and a VEHICLE_ERROR sharing one eventId, and
  // dropping the second as a "duplicate" would lose it. Retries of one event always keep their type.
  return eventId ? `${eventType}#${eventId}` : `sha256:${sha256(raw)}`;
}

/** Smartcar merged its test and simulated modes into "Simulated" (changelog 2024): both are not live data. */
const NON_LIVE_MODES = new Set(['TEST', 'SIMULATED']);

function modeOf(mode: string | undefined): VehicleMode {
  return mode !== undefined && NON_LIVE_MODES.has(mode.trim().toUpperCase()) ? 'test' : 'live';
}

function requireVehicleId(id: string | undefined, details: Record<string, string | undefined>): string {
  if (id === undefined) throw new UnprocessableEventError('vehicle event without a vehicle id', details);
  if (!isValidVehicleId(id))
    throw new UnprocessableEventError('vehicle id has an unexpected format', details);
  return id;
}

function isV2Envelope(body: Record<string, unknown>): boolean {
  if (typeof body.eventType === 'string') return false;
  return (
    (typeof body.version === 'string' && body.version.startsWith('2')) ||
    ('eventName' in body && 'payload' in body)
  );
}

/** Every `vehicleId` we can find: payload.vehicleId, payload[].vehicleId, payload.vehicles[].vehicleId|id. */
function v2VehicleIds(payload: unknown): string[] {
  const ids: unknown[] = [];
  const visit = (node: unknown, allowIdField: boolean): void => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach((child) => visit(child, allowIdField));
      return;
    }
    const record = node as Record<string, unknown>;
    ids.push(record.vehicleId ?? (allowIdField ? record.id : undefined));
    if (Array.isArray(record.vehicles)) visit(record.vehicles, true);
  };
  visit(payload, false);
  const found = ids
    .filter((id): id is string => typeof id === 'string' && id.trim() !== '')
    .map((id) => id.trim());
  return [...new Set(found)];
}

function parseV2(body: Record<string, unknown>, raw: string): NormalizedEvent {
  const envelope = v2Schema.parse(body);
  const eventType = envelope.eventName ?? 'UNKNOWN_V2';
  if (eventType.toLowerCase() === 'verify') return { kind: 'verify', eventType };
  const payload = envelope.payload;
  const payloadObject = asObject(payload);
  const payloadEventId = payloadObject === undefined ? undefined : optionalText.parse(payloadObject.eventId);
  const details = { format: 'v2', eventType, eventId: payloadEventId };
  const vehicleIds = v2VehicleIds(payload);
  if (vehicleIds.length === 0) throw new UnprocessableEventError('v2 event without any vehicle id', details);
  for (const id of vehicleIds) requireVehicleId(id, details);
  return {
    kind: 'raw',
    format: 'v2',
    dedupeKey: dedupeKeyOf(eventType, payloadEventId, raw),
    ...(payloadEventId !== undefined && { eventId: payloadEventId }),
    eventType,
    mode: modeOf(envelope.mode),
    vehicleIds,
    raw,
  };
}

function parseV4(body: Record<string, unknown>, raw: string): NormalizedEvent {
  const event = v4Schema.parse(body);
  const eventType = event.eventType?.toUpperCase();
  if (eventType === undefined)
    throw new UnprocessableEventError('body has neither eventType nor a v2 envelope');
  if (eventType === 'VERIFY') return { kind: 'verify', eventType };

  const data = event.data;
  const details = { format: 'v4', eventType, eventId: event.eventId };
  const vehicleId = data?.vehicle?.id ?? event.vehicleId ?? data?.vehicleId;
  const base = {
    dedupeKey: dedupeKeyOf(eventType, event.eventId, raw),
    ...(event.eventId !== undefined && { eventId: event.eventId }),
    eventType,
    mode: modeOf(event.meta?.mode),
    ...(event.meta?.deliveredAt !== undefined && { deliveredAt: event.meta.deliveredAt }),
  };

  if (eventType !== 'VEHICLE_STATE' && eventType !== 'VEHICLE_ERROR') {
    // A type we do not model yet: keep it (raw, with TTL) rather than drop it, if we know whose it is.
    const id = requireVehicleId(vehicleId, details);
    return { kind: 'raw', format: 'v4', ...base, vehicleIds: [id], raw };
  }

  const userId = data?.user?.id ?? event.userId;
  const vehicle: VehicleRef = {
    id: requireVehicleId(vehicleId, details),
    ...(userId !== undefined && { userId }),
    ...(data?.vehicle?.make !== undefined && { make: data.vehicle.make }),
    ...(data?.vehicle?.model !== undefined && { model: data.vehicle.model }),
    ...(data?.vehicle?.year !== undefined && { year: data.vehicle.year }),
  };

  if (eventType === 'VEHICLE_ERROR') {
    return { kind: 'vehicle-error', ...base, vehicle, errors: normalizeVehicleErrors(data?.errors) };
  }
  const { signals, unreadable } = normalizeSignals(data?.signals);
  return {
    kind: 'vehicle-state',
    ...base,
    vehicle,
    signals,
    // Captures put `triggers` at the top level, the docs under `data`.
    triggers: normalizeTriggers(event.triggers ?? data?.triggers),
    unreadableSignals: unreadable,
  };
}

/**
 * Parses a raw webhook body (the SQS message body, byte-for-byte what Smartcar sent).
 * Throws UnprocessableEventError for a body we cannot route; never for an unknown or oddly typed field.
 */
export function parseWebhook(raw: string): NormalizedEvent {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new UnprocessableEventError('body is not JSON');
  }
  const record = asObject(body);
  if (record === undefined) throw new UnprocessableEventError('body is not a JSON object');
  return isV2Envelope(record) ? parseV2(record, raw) : parseV4(record, raw);
}
