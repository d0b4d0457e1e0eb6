import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { createSmartcarApp } from '../../lib/app.js';
import { standInEntries } from './stand-in-entries.js';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const THIS_FILE = fileURLToPath(import.meta.url);

describe('cdk-nag gate', () => {
  it('fails synthesis of the app on an unacknowledged AWS Solutions finding', () => {
    const { app, stack } = createSmartcarApp({
      appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } },
      env: {},
      entries: standInEntries(THIS_FILE),
    });
    // A queue without DLQ, encryption or TLS enforcement: what a careless change could add.
    new sqs.Queue(stack, 'CarelessQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3[\s\S]*CarelessQueue/);
  });
});
