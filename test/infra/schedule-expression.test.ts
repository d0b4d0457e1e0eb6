import { describe, expect, it } from 'vitest';
import { parseScheduleExpression } from '../../lib/schedule-expression.js';

describe('parseScheduleExpression', () => {
  it.each([
    ['rate(1 minute)', 1, 1],
    ['rate(15 minutes)', 15, 15],
    ['rate(1 hour)', 60, 60],
    ['rate(12 hours)', 720, 720],
    ['rate(1 day)', 1440, 1440],
    ['rate(2 days)', 2880, 2880],
  ])('%s runs every %i minutes', (expression, min, max) => {
    expect(parseScheduleExpression(expression)).toEqual({
      expression,
      minGapMinutes: min,
      maxGapMinutes: max,
    });
  });

  it.each([
    // Every 15 minutes, in several spellings.
    ['cron(0/15 * * * ? *)', 15, 15],
    ['cron(*/15 * ? * * *)', 15, 15],
    ['cron(0,15,30,45 * * * ? *)', 15, 15],
    ['cron(0-59/15 * * * ? *)', 15, 15],
    // Irregular: 5 and 35 past → 30/30; 0 and 20 past → 20 then 40.
    ['cron(5,35 * * * ? *)', 30, 30],
    ['cron(0,20 * * * ? *)', 20, 40],
    // Hourly only from 8 to 20 UTC: the night gap from 20:00 to 08:00 counts.
    ['cron(0 8-20 * * ? *)', 60, 12 * 60],
    // Every 6 hours from 3:00, and once a day (wrapping to the next day).
    ['cron(0 3/6 * * ? *)', 360, 360],
    ['cron(30 4 * * ? *)', 1440, 1440],
    // A single step beyond the range is just its start.
    ['cron(10/60 * * * ? *)', 60, 60],
  ])('%s: gaps between %i and %i minutes', (expression, min, max) => {
    expect(parseScheduleExpression(expression)).toMatchObject({ minGapMinutes: min, maxGapMinutes: max });
  });

  it.each([
    ['rate(15 minute)', /plural/],
    ['rate(1 minutes)', /singular/],
    ['rate(0 minutes)', /rate\(15 minutes\)/],
    ['rate(5 weeks)', /rate\(15 minutes\)/],
    ['rate( 5 minutes)', /rate\(15 minutes\)/],
    ['cron(0/15 * * * ?)', /rate\(15 minutes\)/],
    ['cron(0/15 * 1 * ? *)', /every day/],
    ['cron(0/15 * ? 1 * *)', /every day/],
    ['cron(0/15 * ? * 2 *)', /every day/],
    ['cron(0/15 * ? * * 2030)', /every day/],
    ['cron(0/15 * * * * *)', /exactly one/],
    ['cron(0/15 * ? * ? *)', /exactly one/],
    ['cron(60 * * * ? *)', /minutes field/],
    ['cron(0 24 * * ? *)', /hours field/],
    ['cron(30-10 * * * ? *)', /minutes field/],
    ['cron(0/0 * * * ? *)', /zero step/],
    ['cron(0,,30 * * * ? *)', /minutes field/],
    ['cron(L * * * ? *)', /minutes field/],
    ['15 minutes', /rate\(15 minutes\)/],
  ])('rejects %s', (expression, message) => {
    expect(() => parseScheduleExpression(expression)).toThrow(message);
  });
});
