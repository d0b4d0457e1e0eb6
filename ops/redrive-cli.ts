import { SQSClient } from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';
import { localSqsClient } from '../local/stand-ins/sqs.js';
import { DEAD_LETTER_QUEUES, type DeadLetterQueueSpec } from './dead-letter-queues.js';
import { describeResult, queueUrl, redrive, type ResolvedQueue } from './redrive.js';
import { execCommand, stackOutputs, type Exec } from './stack-outputs.js';

export const USAGE = `Usage: npm run redrive -- [--dry-run] [--queue ${DEAD_LETTER_QUEUES.map((q) => q.name).join('|')}|all]
                        [--stack NAME | --stage STAGE | --dlq-url URL] [--region REGION]

Shows how many messages wait in each dead-letter queue, then moves them back to the queue they came from.

  --dry-run        only show the counts, move nothing
  --queue NAME     one queue (default: all)
  --stack NAME     a deployed stack: DLQs from its outputs (CloudFormation DescribeStacks via the AWS CLI);
                   the move is an SQS message move task (StartMessageMoveTask)
  --stage STAGE    the same as --stack Smartcar-<STAGE>
  --dlq-url URL    a deployed DLQ by URL, without CloudFormation (with --queue to say which one)
  --region REGION  AWS region (default: the CLI's / AWS_REGION)
Without --stack, --stage or --dlq-url it works on local mode (npm start): the SQS emulator on
127.0.0.1:$LOCAL_SQS_PORT (default 9324), moving with receive/send/delete.`;

export interface RedriveCliDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly exec?: Exec;
  readonly log?: (line: string) => void;
  /** SQS client for the target (tests inject one). */
  readonly client?: (target: 'aws' | 'local', region: string | undefined) => SQSClient;
}

function selectQueues(name: string | undefined): DeadLetterQueueSpec[] {
  if (name === undefined || name === 'all') return [...DEAD_LETTER_QUEUES];
  const spec = DEAD_LETTER_QUEUES.find((queue) => queue.name === name);
  if (!spec) throw new UsageError(`unknown queue "${name}"`);
  return [spec];
}

class UsageError extends Error {}

/** The whole command; resolves with the exit code. */
export async function runRedrive(argv: readonly string[], deps: RedriveCliDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const log = deps.log ?? ((line: string) => console.log(line));
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        'dry-run': { type: 'boolean', default: false },
        queue: { type: 'string' },
        stack: { type: 'string' },
        stage: { type: 'string' },
        'dlq-url': { type: 'string' },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      log(USAGE);
      return 0;
    }
    const specs = selectQueues(values.queue);
    const stackName = values.stack ?? (values.stage ? `Smartcar-${values.stage}` : undefined);
    const dlqUrl = values['dlq-url'];
    const target = stackName !== undefined || dlqUrl !== undefined ? 'aws' : 'local';
    const region = values.region ?? env.AWS_REGION;
    const client =
      deps.client?.(target, region) ??
      (target === 'aws'
        ? new SQSClient(region ? { region } : {})
        : localSqsClient(`http://127.0.0.1:${env.LOCAL_SQS_PORT || '9324'}`, region ?? 'us-east-1'));

    let queues: ResolvedQueue[];
    if (dlqUrl !== undefined) {
      if (specs.length !== 1) throw new UsageError('--dlq-url needs --queue to say which queue it is');
      queues = [{ spec: specs[0] as DeadLetterQueueSpec, dlqUrl }];
    } else if (stackName !== undefined) {
      const outputs = await stackOutputs(stackName, region, deps.exec ?? execCommand);
      queues = specs.flatMap((spec) => {
        const url = outputs[spec.dlqOutput];
        if (url === undefined) {
          log(`${spec.name}: stack ${stackName} has no output ${spec.dlqOutput}, skipped`);
          return [];
        }
        return [{ spec, dlqUrl: url }];
      });
      log(`Stack ${stackName}${region ? ` (${region})` : ''}`);
    } else {
      queues = [];
      for (const spec of specs) {
        if (!spec.local) {
          log(`${spec.name}: no such queue in local mode, skipped`);
          continue;
        }
        try {
          queues.push({
            spec,
            dlqUrl: await queueUrl(client, spec.local.dlq),
            sourceUrl: await queueUrl(client, spec.local.source),
          });
        } catch (error) {
          throw new Error(
            `local mode's SQS emulator does not answer (${(error as Error).message}): is \`npm start\` ` +
              'running? To redrive a deployed stack pass --stack or --stage.',
          );
        }
      }
      log('Local mode (SQS emulator)');
    }

    const results = await redrive({ client, queues, target, dryRun: values['dry-run'] });
    for (const result of results) log(describeResult(result));
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      log(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    log(`redrive failed: ${(error as Error).message}`);
    return 1;
  }
}
