import * as z from 'zod/mini';
import { loadConfig, nonEmpty, positiveInt, type ConfigShape } from '../runtime/config.js';

export const receiverConfigSchema = z.object({
  QUEUE_URL: nonEmpty,
  SMARTCAR_SECRET_ID: nonEmpty,
  /** Smartcar's payloads are at most 50 KB; 128 KiB leaves room and stays far below SQS's 256 KiB. */
  MAX_BODY_BYTES: z.pipe(positiveInt(128 * 1024), z.number().check(z.maximum(256 * 1024))),
  /** Set with the edge front on: the secret CloudFront's origin-verify header must match. */
  EDGE_ORIGIN_SECRET_ID: z.optional(nonEmpty),
} satisfies ConfigShape<'receiver'>);

export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;

export const loadReceiverConfig = (env: NodeJS.ProcessEnv = process.env): ReceiverConfig =>
  loadConfig(receiverConfigSchema, env);
