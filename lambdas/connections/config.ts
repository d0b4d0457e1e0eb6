import * as z from 'zod/mini';
import { nonEmpty } from '../runtime/config.js';
import { absoluteUrl, smartcarTimeoutMs } from '../oauth/oauth-config.js';
import { DEFAULT_MANAGEMENT_ORIGIN } from '../smartcar/gateway.js';

/** The variables every connection life-cycle function reads (docs/design.md, "Connection life cycle"). */
export const connectionConfigShape = {
  VEHICLE_TABLE_NAME: nonEmpty,
  TOKEN_TABLE_NAME: nonEmpty,
  SMARTCAR_SECRET_ID: nonEmpty,
  SMARTCAR_TIMEOUT_MS: smartcarTimeoutMs,
  /** The same variable the smartcar SDK reads; set only locally and in tests (the fake). */
  SMARTCAR_MANAGEMENT_API_ORIGIN: z._default(absoluteUrl, DEFAULT_MANAGEMENT_ORIGIN),
};
