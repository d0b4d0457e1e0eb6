import { GetQueueAttributesCommand, ListQueuesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { check, type Check } from '../stats.js';
import type { Expected } from './workload.js';

/** The load's correctness checks, read only through the product's own surfaces: the queues and `GET /vehicles`. */

export interface QueueNames {
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

async function depth(client: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** Where unprocessable messages are parked: a quarantine queue when the stack has one, else the DLQ. */
export async function poisonDestinations(client: SQSClient, queues: QueueNames) {
  const { QueueUrls = [] } = await client.send(new ListQueuesCommand({}));
  const quarantineUrl = QueueUrls.find((url) => /quarantine/i.test(url.split('/').pop() ?? ''));
  return {
    quarantine: quarantineUrl === undefined ? undefined : await depth(client, quarantineUrl),
    dlq: await depth(client, queues.dlqUrl),
  };
}

/** Resolves once the webhook queue is empty (every message applied, or moved aside); false on timeout. */
export async function waitForDrain(
  client: SQSClient,
  queues: QueueNames,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let emptyReads = 0;
  while (Date.now() < deadline) {
    emptyReads = (await depth(client, queues.queueUrl)) === 0 ? emptyReads + 1 : 0;
    // Two empty reads in a row: the emulator's counts are exact, but a receive may be between calls.
    if (emptyReads >= 2) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

interface SignalView {
  readonly body?: { readonly value?: unknown };
}

async function readVehicle(apiUrl: string, vehicleId: string) {
  const response = await fetch(`${apiUrl}/vehicles/${encodeURIComponent(vehicleId)}`);
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, signals: {} as Record<string, SignalView> };
  const view = JSON.parse(text) as { signals?: Record<string, SignalView> };
  return { status: 200, signals: view.signals ?? {} };
}

export async function stateChecks(apiUrl: string, expected: Expected): Promise<Check[]> {
  let missing = 0;
  let stale = 0;
  let unexpected = 0;
  const examples: string[] = [];
  const entries = [...expected.vehicles.entries()];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const [vehicleId, signals] = entries[next++] ?? ['', new Map<string, number>()];
      const view = await readVehicle(apiUrl, vehicleId);
      for (const [code, value] of signals) {
        const got = view.signals[code]?.body?.value;
        if (got === undefined) missing++;
        else if (got !== value) stale++;
        if (got !== value && examples.length < 3)
          examples.push(`${vehicleId} ${code}: ${String(got)} ≠ ${value}`);
      }
      for (const code of Object.keys(view.signals)) if (!signals.has(code)) unexpected++;
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  const markers = [...expected.vehicles.values()].reduce((sum, signals) => sum + signals.size - 2, 0);
  const poisonViews = await Promise.all(
    Array.from({ length: Math.min(expected.poisonCount, 5) }, (_, n) => readVehicle(apiUrl, `#poison-${n}`)),
  );
  return [
    check(
      'every distinct valid event applied (its marker signal is there)',
      missing === 0,
      `${markers - missing}/${markers} markers${examples.length ? `; e.g. ${examples.join('; ')}` : ''}`,
    ),
    check('the newest value of every signal kept', stale === 0, `${stale} stale values`),
    check(
      'no effect beyond each event applied once (no unexpected signals)',
      unexpected === 0,
      `${unexpected} unexpected`,
    ),
    check(
      'poison applied nowhere as data',
      poisonViews.every((view) => Object.keys(view.signals).length === 0),
      `GET of poison vehicle ids answered ${[...new Set(poisonViews.map((view) => view.status))].join(', ')}`,
    ),
  ];
}

export async function queueChecks(
  client: SQSClient,
  queues: QueueNames,
  expected: Expected,
): Promise<Check[]> {
  const where = await poisonDestinations(client, queues);
  const parked = where.quarantine ?? where.dlq;
  const place =
    where.quarantine === undefined ? 'the DLQ (no quarantine queue exists)' : 'the quarantine queue';
  const checks = [
    check(
      `poison parked in ${place}, and only poison`,
      parked === expected.poisonCount,
      `${parked} there, ${expected.poisonCount} sent`,
    ),
  ];
  if (where.quarantine !== undefined) {
    checks.push(
      check('nothing in the DLQ besides the quarantine', where.dlq === 0, `${where.dlq} in the DLQ`),
    );
  }
  return checks;
}

export { depth };
