import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { LambdaEntries } from './entries.js';
import { resolveRegion, settingsFromContext } from './settings.js';
import { SmartcarStack } from './smartcar-stack.js';

/**
 * Builds the CDK app: settings from context, the stack in an explicit region, and cdk-nag's AWS Solutions
 * checks as a policy-validation plugin, so `cdk synth` fails on any unacknowledged finding.
 */
export interface CreateSmartcarAppOptions {
  readonly appProps?: AppProps;
  /** Where CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION come from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly entries?: LambdaEntries;
}

export function createSmartcarApp(options: CreateSmartcarAppOptions = {}): {
  app: App;
  stack: SmartcarStack;
} {
  const env = options.env ?? process.env;
  const app = new App(options.appProps);
  const settings = settingsFromContext(app);
  const stack = new SmartcarStack(app, settings.stackName ?? `Smartcar-${settings.stage}`, {
    settings,
    entries: options.entries,
    description: `Smartcar webhooks on AWS (stage ${settings.stage})`,
    // Explicit region: resources such as the kms:ViaService condition need a concrete one. The account
    // stays whatever the CLI resolves (or unresolved for offline synth).
    env: { account: env.CDK_DEFAULT_ACCOUNT, region: resolveRegion(settings, env) },
  });
  // cdk-nag 3 is a policy-validation plugin (not an Aspect): it runs after synthesis and fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
