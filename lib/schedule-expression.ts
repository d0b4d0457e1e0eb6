/**
 * What the stack needs to know about an EventBridge schedule expression: the alarms that watch a scheduled
 * job ("did it run?", "did its last runs fail?") and its async-invocation limits are derived from the time
 * between two runs, so that changing the schedule cannot leave them paging for a healthy job (or never).
 */
export interface ScheduleCadence {
  /** The expression as EventBridge gets it. */
  readonly expression: string;
  /** Shortest time between two consecutive runs, in minutes. */
  readonly minGapMinutes: number;
  /** Longest time between two consecutive runs, in minutes. */
  readonly maxGapMinutes: number;
}

const MINUTES_PER_DAY = 24 * 60;
const RATE_UNIT_MINUTES: Readonly<Record<string, number>> = { minute: 1, hour: 60, day: MINUTES_PER_DAY };

/**
 * Parses `rate(<n> <unit>)` or `cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>)` (UTC).
 *
 * Only crons that run every day are accepted (day-of-month, month, day-of-week and year are wildcards): the
 * gaps between runs then follow from the minute and hour fields alone, and a job that keeps tokens alive has
 * no business skipping days. Throws an Error whose message says what is wrong.
 */
export function parseScheduleExpression(expression: string): ScheduleCadence {
  const rate = /^rate\(([1-9]\d{0,5}) (minute|hour|day)(s?)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    // EventBridge's own rule: `rate(1 hour)`, but `rate(2 hours)`.
    if ((value === 1) !== (rate[3] === '')) {
      throw new Error(
        `use the singular unit for 1 and the plural otherwise, e.g. rate(1 hour), rate(2 hours)`,
      );
    }
    const gap = value * (RATE_UNIT_MINUTES[rate[2] as string] as number);
    return { expression, minGapMinutes: gap, maxGapMinutes: gap };
  }

  const cron = /^cron\((\S+(?: \S+){5})\)$/.exec(expression);
  if (cron) {
    const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = (cron[1] as string).split(' ') as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const everyDay =
      ['*', '?'].includes(dayOfMonth) && month === '*' && ['*', '?'].includes(dayOfWeek) && year === '*';
    if (!everyDay) {
      throw new Error(
        'a cron schedule must run every day: day-of-month, month, day-of-week and year must be * or ?',
      );
    }
    // EventBridge: exactly one of day-of-month and day-of-week is "?".
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      throw new Error('a cron schedule needs "?" in exactly one of day-of-month and day-of-week');
    }
    const times = expandField(hours, 0, 23, 'hours')
      .flatMap((hour) => expandField(minutes, 0, 59, 'minutes').map((minute) => hour * 60 + minute))
      .sort((a, b) => a - b);
    // Gaps between consecutive runs of a day, and from the last run to the first run of the next day.
    const gaps = times.map((time, i) => (times[i + 1] ?? (times[0] as number) + MINUTES_PER_DAY) - time);
    return { expression, minGapMinutes: Math.min(...gaps), maxGapMinutes: Math.max(...gaps) };
  }

  throw new Error('an EventBridge schedule such as rate(15 minutes) or cron(0/15 * * * ? *)');
}

/**
 * The values a cron minutes/hours field selects: comma-separated items, each `*`, `n` or `a-b`, optionally
 * followed by `/step` (`*` and `n` then run to `max`). Sorted, without duplicates.
 */
function expandField(field: string, min: number, max: number, name: string): number[] {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    const match = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(item);
    if (!match) throw new Error(`cron ${name} field: "${item}" is not *, n, a-b or one of them with /step`);
    const [, , fromText, toText, stepText] = match;
    const from = fromText === undefined ? min : Number(fromText);
    // `n` alone is just n; `n/step` (like `*` and `*/step`) runs to the end of the range.
    const to =
      toText !== undefined ? Number(toText) : fromText === undefined || stepText !== undefined ? max : from;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (from < min || to > max || from > to || step < 1) {
      throw new Error(`cron ${name} field: "${item}" is outside ${min}-${max} or has a zero step`);
    }
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}
