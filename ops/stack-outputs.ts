import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Runs a command and resolves with its stdout (injectable, so the commands are tested without AWS). */
export type Exec = (file: string, args: readonly string[]) => Promise<string>;

const execFileAsync = promisify(execFile);

export const execCommand: Exec = async (file, args) => (await execFileAsync(file, [...args])).stdout;

/**
 * The outputs of a deployed stack (CloudFormation DescribeStacks), through the AWS CLI the runbook's other
 * commands use too, with the operator's usual profile and region.
 */
export async function stackOutputs(
  stackName: string,
  region: string | undefined,
  exec: Exec = execCommand,
): Promise<Record<string, string>> {
  const args = [
    'cloudformation',
    'describe-stacks',
    '--stack-name',
    stackName,
    '--query',
    'Stacks[0].Outputs',
    '--output',
    'json',
    ...(region ? ['--region', region] : []),
  ];
  let stdout: string;
  try {
    stdout = await exec('aws', args);
  } catch (error) {
    throw new Error(
      `could not describe stack ${stackName} with the AWS CLI (installed, credentials set?): ` +
        `${(error as Error).message}`,
    );
  }
  const outputs = JSON.parse(stdout) as { OutputKey?: string; OutputValue?: string }[] | null;
  const byKey: Record<string, string> = {};
  for (const output of outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) byKey[output.OutputKey] = output.OutputValue;
  }
  return byKey;
}
