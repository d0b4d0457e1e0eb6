import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import type { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_IDS, FUNCTIONS, type FunctionId } from '../../contracts/index.js';
import { confirmConfigSchema } from '../../lambdas/connect-confirm/config.js';
import { expiryConfigSchema } from '../../lambdas/connect-expiry/config.js';
import { reconcileConfigSchema } from '../../lambdas/connection-reconcile/config.js';
import { callbackConfigSchema } from '../../lambdas/oauth-callback/config.js';
import { connectConfigSchema } from '../../lambdas/oauth-connect/config.js';
import { subscriptionWorkerConfigSchema } from '../../lambdas/subscription-worker/config.js';
import { refreshConfigSchema } from '../../lambdas/token-refresh/config.js';
import { commandConfigSchema } from '../../lambdas/vehicle-command/config.js';
import { disconnectConfigSchema } from '../../lambdas/vehicle-disconnect/config.js';
import { readConfigSchema } from '../../lambdas/vehicle-read/config.js';
import { vehicleSubscriptionsConfigSchema } from '../../lambdas/vehicle-subscriptions/config.js';
import { processorConfigSchema } from '../../lambdas/webhook-processor/config.js';
import { receiverConfigSchema } from '../../lambdas/webhook-receiver/config.js';
import { createSmartcarApp } from '../../lib/app.js';
import { standInEntries } from './stand-in-entries.js';

/**
 * The contract between the stack and each Lambda's config loader: what the template sets is exactly what the
 * loader reads (less the variables with a default that only local mode and tests set), plus the runtime's own.
 */

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const THIS_FILE = fileURLToPath(import.meta.url);

/** Set by NodeLambda for every function: Powertools and source maps, read by the runtime, not the loader. */
const RUNTIME_VARIABLES = [
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
  'NODE_OPTIONS',
];

const CONFIG_SCHEMAS: Record<FunctionId, { readonly shape: Record<string, unknown> }> = {
  receiver: receiverConfigSchema,
  processor: processorConfigSchema,
  vehicleRead: readConfigSchema,
  oauthConnect: connectConfigSchema,
  oauthCallback: callbackConfigSchema,
  vehicleDisconnect: disconnectConfigSchema,
  tokenRefresh: refreshConfigSchema,
  vehicleCommand: commandConfigSchema,
  subscriptionWorker: subscriptionWorkerConfigSchema,
  vehicleSubscriptions: vehicleSubscriptionsConfigSchema,
  connectConfirm: confirmConfigSchema,
  connectExpiry: expiryConfigSchema,
  connectionReconcile: reconcileConfigSchema,
};

interface FunctionResource {
  Properties: { Description?: string; Environment?: { Variables?: Record<string, unknown> } };
}

let functions: FunctionResource[];

beforeAll(() => {
  const { stack } = createSmartcarApp({
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } },
    env: {},
    entries: standInEntries(THIS_FILE),
  });
  functions = Object.values(
    Template.fromStack(stack).findResources('AWS::Lambda::Function') as Record<string, FunctionResource>,
  );
});

function templateVariables(id: FunctionId): string[] {
  const matches = functions.filter((f) => f.Properties.Description === FUNCTIONS[id].description);
  expect(matches, `one function described as the ${id} contract says`).toHaveLength(1);
  return Object.keys(matches[0]?.Properties.Environment?.Variables ?? {}).sort();
}

describe('function environments', () => {
  it('deploys one Lambda per function contract', () => {
    expect(functions).toHaveLength(FUNCTION_IDS.length);
  });

  it.each(FUNCTION_IDS)(
    'sets for %s exactly the variables its config loader reads, plus the runtime ones',
    (id) => {
      const optional: readonly string[] = FUNCTIONS[id].optionalEnvironment;
      const read = Object.keys(CONFIG_SCHEMAS[id].shape);
      const expected = [...read.filter((name) => !optional.includes(name)), ...RUNTIME_VARIABLES].sort();
      expect(templateVariables(id)).toEqual(expected);
    },
  );

  it.each(FUNCTION_IDS)('declares only variables with a default as optional for %s', (id) => {
    const shape = CONFIG_SCHEMAS[id].shape as Record<string, z.ZodType>;
    for (const name of FUNCTIONS[id].optionalEnvironment) {
      expect(shape[name], name).toBeDefined();
      expect(shape[name]?.safeParse(undefined).success, `${name} may be unset`).toBe(true);
    }
  });
});
