import { App, type AppProps, CrossStackReferences, ReferenceStrength, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { WAF_REGION } from './constructs/edge-web-acl.js';
import { EdgeAclStack } from './edge-acl-stack.js';
import type { LambdaEntries } from './entries.js';
import { resolveRegion, settingsFromContext } from './settings.js';
import { SmartcarStack } from './smartcar-stack.js';

/**
 * Builds the CDK app: settings from context, the stack in an explicit region, and cdk-nag's AWS Solutions
 * checks as a policy-validation plugin, so `cdk synth` fails on any unacknowledged finding. With
 * `edgeProtection=on` outside us-east-1 also the edge front's web ACL stack in us-east-1 (EdgeAclStack).
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
  /** The web ACL's stack in us-east-1, when the edge front is on and the stack lives elsewhere. */
  edgeAclStack?: EdgeAclStack;
} {
  const env = options.env ?? process.env;
  const app = new App(options.appProps);
  const settings = settingsFromContext(app);
  const stackName = settings.stackName ?? `Smartcar-${settings.stage}`;
  // Explicit region: resources such as the kms:ViaService condition need a concrete one (and so do
  // cross-region references). The account stays whatever the CLI resolves (or unresolved for offline synth).
  const region = resolveRegion(settings, env);
  const account = env.CDK_DEFAULT_ACCOUNT;
  // CLOUDFRONT-scope web ACLs exist only in us-east-1: elsewhere the ACL gets a stack of its own there,
  // deployed first (`cdk deploy --all`), whose ARN the main stack reads through a cross-region reference.
  const aclElsewhere = settings.edgeProtection === 'on' && region !== WAF_REGION;
  // Strong (SSM parameters written and read by CDK's custom resources): the ACL's stack cannot drop the ACL
  // while the distribution still names it. A weak reference would let it, leaving the front without its ACL.
  if (aclElsewhere) CrossStackReferences.of(app).consume(ReferenceStrength.STRONG);
  const edgeAclStack = aclElsewhere
    ? new EdgeAclStack(app, `${stackName}-Edge`, {
        frontedStackName: stackName,
        settings,
        description: `AWS WAF web ACL of ${stackName}'s edge front (stage ${settings.stage})`,
        env: { account, region: WAF_REGION },
      })
    : undefined;
  const stack = new SmartcarStack(app, stackName, {
    settings,
    entries: options.entries,
    description: `Smartcar webhooks on AWS (stage ${settings.stage})`,
    env: { account, region },
    edgeWebAclArn: edgeAclStack?.webAcl.arn,
    crossRegionReferences: edgeAclStack !== undefined,
  });
  // cdk-nag 3 is a policy-validation plugin (not an Aspect): it runs after synthesis and fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, edgeAclStack };
}
