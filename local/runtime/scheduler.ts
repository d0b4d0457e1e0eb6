import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyHandlerV2, Handler, ScheduledEvent } from 'aws-lambda';
import { json, problem } from '../../lambdas/runtime/http.js';
import { invokeHandler, type LocalFunction } from './lambda-runtime.js';

/**
 * The stand-in for an EventBridge schedule rule: invokes a scheduled function with the event EventBridge
 * would send (its `time` is the run's "now"), every `intervalMs`, and on demand through a local-only route.
 */

const ACCOUNT_ID = '000000000000';

/** The event an EventBridge schedule delivers to its Lambda target. */
export function scheduledEvent(time: Date, ruleName: string, region: string): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: ACCOUNT_ID,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${ACCOUNT_ID}:rule/${ruleName}`],
    detail: {},
  };
}

export interface LocalScheduledJob {
  /** Runs the job once as of `time` and returns what the function returned. */
  run(time: Date): Promise<unknown>;
  stop(): Promise<void>;
}

export interface ScheduleOptions {
  readonly handler: Handler<ScheduledEvent, unknown>;
  readonly function: LocalFunction;
  readonly ruleName: string;
  /** 0 disables the timer (on-demand runs still work). */
  readonly intervalMs: number;
  readonly log: (line: string, error?: unknown) => void;
}

/**
 * Starts the schedule. Like EventBridge + Lambda with reserved concurrency 1, a tick that finds the previous run
 * still going is skipped rather than stacked; on-demand runs wait for nothing (the job itself is race-free).
 */
export function startSchedule(options: ScheduleOptions): LocalScheduledJob {
  const { handler, log } = options;
  let running: Promise<unknown> | undefined;
  const run = (time: Date) =>
    invokeHandler(handler, scheduledEvent(time, options.ruleName, options.function.region), options.function);

  const tick = () => {
    if (running) return;
    running = run(new Date())
      .then((summary) => log(`[schedule] ${options.function.functionName}: ${JSON.stringify(summary)}`))
      .catch((error: unknown) => log(`[schedule] ${options.function.functionName} failed`, error))
      .finally(() => (running = undefined));
  };
  const timer = options.intervalMs > 0 ? setInterval(tick, options.intervalMs) : undefined;
  timer?.unref();

  return {
    run,
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}

/**
 * `POST /local/jobs/<name>` with an optional JSON body `{"time":"<ISO-8601>"}`: runs the job once as of that
 * time (default: now) and answers its result. Local mode only; in AWS the same is `aws lambda invoke`.
 */
export function runJobRoute(job: LocalScheduledJob): APIGatewayProxyHandlerV2 {
  return async (event) => {
    let time = new Date();
    const raw = event.body
      ? event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString()
        : event.body
      : '';
    if (raw.trim() !== '') {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return problem(400, 'invalid_body', 'body must be JSON: {"time":"<ISO-8601>"}');
      }
      const given = typeof body === 'object' && body !== null ? (body as { time?: unknown }).time : undefined;
      if (given !== undefined) {
        if (typeof given !== 'string' || Number.isNaN(Date.parse(given))) {
          return problem(400, 'invalid_time', 'time must be an ISO-8601 instant, e.g. 2027-01-15T00:00:00Z');
        }
        time = new Date(given);
      }
    }
    try {
      return json(200, await job.run(time));
    } catch (error) {
      return problem(500, 'job_failed', error instanceof Error ? error.message : String(error));
    }
  };
}
