import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BY_ACCESS_EXPIRY_INDEX, BY_REFRESH_EXPIRY_INDEX } from '../../contracts/tables.js';
import { METRICS } from '../../contracts/metrics.js';
import { dynamoGrantCensus } from '../../lambdas/tokens/grant-census.js';
import { createRefreshJob } from '../../lambdas/token-refresh/refresh-job.js';

/** The ConnectedGrants gauge: where the count comes from, and that counting never breaks a refresh run. */

const dynamo = mockClient(DynamoDBClient);
afterEach(() => {
  dynamo.reset();
  vi.restoreAllMocks();
});

describe('grant census', () => {
  it('answers the item count of the refresh-expiry index, which holds exactly the ACTIVE grants', async () => {
    dynamo.on(DescribeTableCommand, { TableName: 'tokens' }).resolves({
      Table: {
        ItemCount: 9_000,
        GlobalSecondaryIndexes: [
          { IndexName: BY_ACCESS_EXPIRY_INDEX, ItemCount: 12 },
          { IndexName: BY_REFRESH_EXPIRY_INDEX, ItemCount: 4_321 },
        ],
      },
    });
    expect(await dynamoGrantCensus(new DynamoDBClient({}), 'tokens').activeGrants()).toBe(4_321);
  });

  it('answers undefined when the table does not describe the index', async () => {
    dynamo.on(DescribeTableCommand).resolves({ Table: { ItemCount: 3 } });
    expect(await dynamoGrantCensus(new DynamoDBClient({}), 'tokens').activeGrants()).toBeUndefined();
  });
});

describe('refresh job: ConnectedGrants gauge', () => {
  const logger = new Logger({ serviceName: 'census-test', logLevel: 'CRITICAL' });
  const job = (activeGrants: () => Promise<number | undefined>) =>
    createRefreshJob({
      tokens: { listDue: () => Promise.resolve([]) },
      rotation: { rotate: () => Promise.reject(new Error('nothing is due')) },
      config: { refreshWindowMs: 1, accessWarmWindowMs: 0, concurrency: 1 },
      logger,
      metrics: new Metrics({ namespace: 'Test', serviceName: 'census-test' }),
      census: { activeGrants },
    });
  const run = { now: 0, endsAt: Date.now() + 120_000, runId: 'r' };

  it('publishes the count every run', async () => {
    const addMetric = vi.spyOn(Metrics.prototype, 'addMetric');
    await job(() => Promise.resolve(17)).run(run);
    expect(addMetric).toHaveBeenCalledWith(METRICS.connectedGrants, MetricUnit.Count, 17);
  });

  it('still finishes the run, without the gauge, when the count cannot be read', async () => {
    const addMetric = vi.spyOn(Metrics.prototype, 'addMetric');
    const warn = vi.spyOn(logger, 'warn');
    const summary = await job(() => Promise.reject(new Error('AccessDenied'))).run(run);
    expect(summary).toEqual({ due: 0, refreshed: 0, skipped: 0, failed: 0, needsReauth: 0 });
    expect(addMetric.mock.calls.map((call) => call[0])).not.toContain(METRICS.connectedGrants);
    expect(warn).toHaveBeenCalledWith('Could not count the active grants', expect.anything());
  });
});
