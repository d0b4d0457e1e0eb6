import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { EncryptedTable } from '../../lib/constructs/encrypted-table.js';
import { ScheduledJob } from '../../lib/constructs/scheduled-job.js';
import { parseScheduleExpression } from '../../lib/schedule-expression.js';

const newStack = () => new Stack(new App(), 'Test', { env: { region: 'eu-west-1' } });

describe('EncryptedTable indexes', () => {
  it('projects ALL by default, KEYS_ONLY for an empty list and INCLUDE otherwise, with number sort keys on request', () => {
    const stack = newStack();
    const table = new EncryptedTable(stack, 'Table', {
      partitionKey: 'pk',
      encryptionKey: new kms.Key(stack, 'Key'),
      removalPolicy: RemovalPolicy.DESTROY,
      globalSecondaryIndexes: [
        { indexName: 'all', partitionKey: 'a', sortKey: 'b' },
        { indexName: 'keys', partitionKey: 'c', sortKey: 'd', sortKeyType: 'number', nonKeyAttributes: [] },
        {
          indexName: 'include',
          partitionKey: 'c',
          sortKey: 'e',
          sortKeyType: 'number',
          nonKeyAttributes: ['x', 'y'],
        },
      ],
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: 'all', Projection: { ProjectionType: 'ALL' } }),
        Match.objectLike({ IndexName: 'keys', Projection: { ProjectionType: 'KEYS_ONLY' } }),
        Match.objectLike({
          IndexName: 'include',
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['x', 'y'] },
        }),
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'b', AttributeType: 'S' },
        { AttributeName: 'd', AttributeType: 'N' },
        { AttributeName: 'e', AttributeType: 'N' },
      ]),
    });

    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    expect(() => table.grantQueryIndex(role, 'nope')).toThrow(/no index "nope"/);
  });
});

describe('ScheduledJob', () => {
  const handlerIn = (stack: Stack) =>
    new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {};'),
    });

  it.each([
    // Dropped once the next run is due ...
    ['rate(15 minutes)', 900],
    ['cron(0,20 * * * ? *)', 1200],
    // ... but never later than Lambda's maximum of 6 hours.
    ['rate(12 hours)', 6 * 3600],
  ])(
    '%s: a run that could not start is dropped after %i s (by EventBridge and Lambda alike)',
    (expression, age) => {
      const stack = newStack();
      new ScheduledJob(stack, 'Job', {
        handler: handlerIn(stack),
        schedule: parseScheduleExpression(expression),
        description: 'test',
      });
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: age,
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: expression,
        Targets: [
          Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: age } }),
        ],
      });
    },
  );
});
