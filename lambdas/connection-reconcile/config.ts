import * as z from 'zod/mini';
import { loadConfig, type ConfigShape } from '../runtime/config.js';
import { connectionConfigShape } from '../connections/config.js';
import { booleanFlag } from '../oauth/oauth-config.js';

/** The daily reconciliation job (docs/design.md, "Reconciliation"). */
export const reconcileConfigSchema = z.object({
  ...connectionConfigShape,
  /** Also revoke connections no grant knows that are older than a day (context `reconcileRevokeOrphans`). */
  RECONCILE_REVOKE_ORPHANS: booleanFlag(false),
} satisfies ConfigShape<'connectionReconcile'>);

export type ReconcileConfig = z.infer<typeof reconcileConfigSchema>;

export function loadReconcileConfig(env: NodeJS.ProcessEnv = process.env): ReconcileConfig {
  return loadConfig(reconcileConfigSchema, env);
}
