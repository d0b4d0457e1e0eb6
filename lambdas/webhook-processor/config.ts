import * as z from 'zod/mini';
import { loadConfig, nonEmpty, positiveInt, type ConfigShape } from '../runtime/config.js';

/** The processor's environment (docs/design.md, "Runtime configuration"). */
export const processorConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
  TEST_EVENTS: z._default(z.enum(['separate', 'skip']), 'separate'),
  /** How long a RESOLVED error is remembered: 14 days = the DLQ's retention, so an older ERROR redriven from the DLQ cannot reopen it. */
  DEDUPE_TTL_SECONDS: positiveInt(1_209_600),
  RAW_EVENT_TTL_DAYS: positiveInt(30),
  /** The vehicle command audit table; when set, lock/charging reports confirm sent commands. */
  COMMAND_AUDIT_TABLE_NAME: z.optional(nonEmpty),
} satisfies ConfigShape<'processor'>);

export type ProcessorConfig = z.infer<typeof processorConfigSchema>;

export function loadProcessorConfig(env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  return loadConfig(processorConfigSchema, env);
}
