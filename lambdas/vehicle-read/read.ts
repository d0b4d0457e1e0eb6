import * as z from 'zod/mini';
import { toSubscriptionRecord } from '../subscriptions/dynamo-subscriptions.js';
import type { SubscriptionError } from '../subscriptions/subscription.js';
import { PROFILE_SK, SIGNAL_SK_PREFIX, STATE_SK, SUBSCRIPTION_SK_PREFIX } from '../vehicles/vehicle-keys.js';
import { decodeState } from '../vehicles/vehicle-state.js';
import {
  resolvedByReconnect,
  vehicleStatus,
  type ActionRequired,
  type StatusOptions,
  type StatusProfile,
  type StatusRelevantError,
} from '../vehicles/vehicle-status.js';

/**
 * The read model: items of one vehicle partition (PROFILE and STATE, plus SIGNAL# items of the earlier layout)
 * → the JSON of `GET /vehicles/{vehicleId}`. Pure; the items are parsed leniently so an item written by an older
 * processor version still reads.
 */

export interface SignalView {
  readonly body: unknown;
  readonly status: unknown;
  readonly oemUpdatedAt: number | null;
  readonly retrievedAt: number | null;
  /** The last failed read of this signal, while no newer good value has replaced it. */
  readonly error?: unknown;
  readonly errorAt?: number;
}

export interface ErrorView {
  readonly type: string;
  readonly code: string | null;
  readonly description: string | null;
  readonly resolution: unknown;
  readonly signals: string[];
}

export interface SubscriptionView {
  readonly webhookId: string;
  readonly status: string;
  readonly updatedAt: number;
  /** The last failed attempt's Smartcar error (or, once REMOVED, the failed unsubscription's). */
  readonly error?: SubscriptionError;
}

export interface VehicleView {
  readonly vehicleId: string;
  /** The app user the vehicle is linked to (by a Connect), else the Smartcar user id. */
  readonly userId: string | null;
  /** The app user who connected the vehicle; null for a vehicle only known from webhooks. */
  readonly appUserId: string | null;
  readonly smartcarUserId: string | null;
  readonly make: string | null;
  readonly model: string | null;
  readonly year: number | null;
  /** The connection: CONNECTED, NEEDS_REAUTH or DISCONNECTED (lambdas/vehicles/vehicle-status.ts). */
  readonly status: string;
  /** What the owner must do outside Connect (brand app, virtual key), or null. */
  readonly actionRequired: ActionRequired | null;
  readonly signals: Record<string, SignalView>;
  /** Active errors only; RESOLVED tombstones are not shown. */
  readonly errors: ErrorView[];
  /** One entry per webhook the vehicle was subscribed to by this integration. */
  readonly subscriptions: SubscriptionView[];
  /** Epoch ms: the latest event time among the profile, signal and error items. */
  readonly updatedAt: number | null;
}

const optionalString = z.catch(z.optional(z.string()), undefined);
const optionalNumber = z.catch(z.optional(z.number()), undefined);

const profileItem = z.looseObject({
  appUserId: optionalString,
  smartcarUserId: optionalString,
  make: optionalString,
  model: optionalString,
  year: optionalNumber,
  status: optionalString,
  updatedAt: optionalNumber,
  connectedAt: optionalNumber,
  permissions: z.catch(z.optional(z.array(z.string())), undefined),
});

const signalItem = z.looseObject({
  sk: z.string(),
  code: optionalString,
  body: z.optional(z.unknown()),
  status: z.optional(z.unknown()),
  oemUpdatedAt: optionalNumber,
  retrievedAt: optionalNumber,
  error: z.optional(z.unknown()),
  errorAt: optionalNumber,
  updatedAt: optionalNumber,
});

const errorItem = z.looseObject({
  type: z.string(),
  code: z.catch(z.optional(z.nullable(z.string())), null),
  description: z.catch(z.optional(z.nullable(z.string())), null),
  resolution: z.optional(z.unknown()),
  signals: z.catch(z.optional(z.array(z.string())), []),
  state: optionalString,
  at: optionalNumber,
});

function toSignalView(item: z.infer<typeof signalItem>): SignalView {
  return {
    body: item.body ?? null,
    status: item.status ?? null,
    oemUpdatedAt: item.oemUpdatedAt ?? null,
    retrievedAt: item.retrievedAt ?? null,
    ...(item.error !== undefined && item.error !== null && { error: item.error }),
    ...(item.error !== undefined &&
      item.error !== null &&
      item.errorAt !== undefined && { errorAt: item.errorAt }),
  };
}

function latest(...times: (number | undefined)[]): number | null {
  const known = times.filter((time): time is number => time !== undefined);
  return known.length > 0 ? Math.max(...known) : null;
}

/** Returns undefined when nothing is stored for the vehicle (→ 404). */
export function toVehicleView(
  vehicleId: string,
  items: readonly Record<string, unknown>[],
  options: StatusOptions = {},
): VehicleView | undefined {
  let profile: z.infer<typeof profileItem> | undefined;
  const signals: Record<string, SignalView> = {};
  const activeErrors: z.infer<typeof errorItem>[] = [];
  const times: (number | undefined)[] = [];
  const subscriptions: SubscriptionView[] = [];
  let known = false;

  const legacySignals: Record<string, SignalView> = {};
  let webhookProfile: { make?: string; model?: string; year?: number; smartcarUserId?: string } = {};
  for (const item of items) {
    const sk = typeof item.sk === 'string' ? item.sk : '';
    if (sk === PROFILE_SK) {
      profile = profileItem.parse(item);
      times.push(profile.updatedAt);
      known = true;
    } else if (sk === STATE_SK) {
      const state = decodeState(item);
      known = true;
      times.push(state.updatedAt);
      webhookProfile = state.profile ?? {};
      for (const [code, signal] of Object.entries(state.signals)) {
        const parsed = signalItem.safeParse({ ...signal, sk });
        if (parsed.success) signals[code] = toSignalView(parsed.data);
      }
      for (const error of Object.values(state.errors)) {
        const parsed = errorItem.safeParse(error);
        // A RESOLVED tombstone is kept until it expires; only ERROR counts as active.
        if (parsed.success && parsed.data.state === 'ERROR') activeErrors.push(parsed.data);
      }
    } else if (sk.startsWith(SIGNAL_SK_PREFIX)) {
      const parsed = signalItem.safeParse(item);
      if (!parsed.success) continue;
      legacySignals[parsed.data.code ?? sk.slice(SIGNAL_SK_PREFIX.length)] = toSignalView(parsed.data);
      times.push(parsed.data.updatedAt);
      known = true;
    } else if (sk.startsWith(SUBSCRIPTION_SK_PREFIX)) {
      const record = toSubscriptionRecord(item);
      if (!record) continue;
      const error = record.status === 'REMOVED' ? record.unsubscribeError : record.lastError;
      subscriptions.push({
        webhookId: record.webhookId,
        status: record.status,
        updatedAt: record.updatedAt,
        ...(error && record.status !== 'ACTIVE' && { error }),
      });
    }
  }
  // A signal the state item holds is newer than its item of the earlier layout (which is no longer written).
  Object.assign(signals, { ...legacySignals, ...signals });
  if (!known) return undefined;

  const statusProfile: StatusProfile = {
    ...(profile?.status !== undefined && { status: profile.status }),
    ...(profile?.connectedAt !== undefined && { connectedAt: profile.connectedAt }),
    ...(profile?.permissions !== undefined && { permissions: profile.permissions }),
  };
  const relevant = activeErrors
    .map((error) => ({ error, relevant: statusErrorOf(error) }))
    // A re-Connect after a re-auth error resolved it: neither listed nor counted.
    .filter(({ relevant }) => !resolvedByReconnect(relevant, statusProfile));
  const derived = vehicleStatus(
    statusProfile,
    relevant.map((entry) => entry.relevant),
    options,
  );
  const errors = relevant.map(({ error }): ErrorView => ({
    type: error.type,
    code: error.code ?? null,
    description: error.description ?? null,
    resolution: error.resolution ?? null,
    signals: error.signals ?? [],
  }));
  return {
    vehicleId,
    userId: profile?.appUserId ?? profile?.smartcarUserId ?? webhookProfile.smartcarUserId ?? null,
    appUserId: profile?.appUserId ?? null,
    smartcarUserId: profile?.smartcarUserId ?? webhookProfile.smartcarUserId ?? null,
    make: profile?.make ?? webhookProfile.make ?? null,
    model: profile?.model ?? webhookProfile.model ?? null,
    year: profile?.year ?? webhookProfile.year ?? null,
    status: derived.status,
    actionRequired: derived.actionRequired,
    signals,
    errors,
    subscriptions,
    updatedAt: latest(...times),
  };
}

export function resolutionOf(resolution: unknown): { type: string | null; url: string | null } | null {
  if (typeof resolution !== 'object' || resolution === null) return null;
  const { type, url } = resolution as Record<string, unknown>;
  return { type: typeof type === 'string' ? type : null, url: typeof url === 'string' ? url : null };
}

/** A stored error item (active) → what the status rules read. */
export function statusErrorOf(item: {
  readonly type: string;
  readonly code?: string | null | undefined;
  readonly resolution?: unknown;
  readonly signals?: readonly string[] | undefined;
  readonly at?: number | undefined;
  readonly suggestedUserMessage?: unknown;
}): StatusRelevantError {
  return {
    type: item.type,
    code: item.code ?? null,
    state: 'ERROR',
    resolution: resolutionOf(item.resolution),
    signals: item.signals ?? [],
    ...(item.at !== undefined && { at: item.at }),
    ...(typeof item.suggestedUserMessage === 'string' && { suggestedUserMessage: item.suggestedUserMessage }),
  };
}
