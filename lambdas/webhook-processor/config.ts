import { z } from 'zod';
import { loadConfig, nonEmpty, positiveInt, type ConfigShape } from '../runtime/config.js';

/** The processor's environment (docs/design.md, "Runtime configuration"). */
export const processorConfigSchema = z.object({
  VEHICLE_TABLE_NAME: nonEmpty,
  IDEMPOTENCY_TABLE_NAME: nonEmpty,
  TEST_EVENTS: z.enum(['separate', 'skip']).default('separate'),
  /** 14 days = the DLQ's retention, so a redrive from the DLQ is deduplicated too. */
  DEDUPE_TTL_SECONDS: positiveInt(1_209_600),
  RAW_EVENT_TTL_DAYS: positiveInt(30),
} satisfies ConfigShape<'processor'>);

export type ProcessorConfig = z.infer<typeof processorConfigSchema>;

export function loadProcessorConfig(env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  return loadConfig(processorConfigSchema, env);
}
