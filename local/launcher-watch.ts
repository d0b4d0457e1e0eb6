import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Stops local mode when the `npm start` that launched it goes away.
 *
 * Why: npm runs the script through `sh -c`, and a SIGTERM sent to npm (an IDE's stop button, a process
 * manager) ends npm and the shell but never reaches the script: it would keep running as an orphan,
 * together with its DynamoDB Local JVM. Ctrl-C is not affected (the terminal signals the whole process
 * group). So when started by npm, we remember the chain of processes up to npm and shut down as soon as
 * one of them has exited or the chain has been re-parented.
 */

const run = promisify(execFile);

interface ProcessInfo {
  readonly ppid: number;
  readonly command: string;
}

async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const { stdout } = await run('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)]);
    const match = /^\s*(\d+)\s+(.*)$/.exec(stdout.trim());
    return match ? { ppid: Number(match[1]), command: match[2] ?? '' } : undefined;
  } catch {
    return undefined; // gone, or no `ps` on this system
  }
}

const isNpm = (command: string) => /(^|\/)npm(-cli(\.js)?)?(\s|$)/.test(command);

/** The launching chain `[parent, grandparent, …, npm]`, or undefined when npm did not launch us. */
async function launcherChain(): Promise<number[] | undefined> {
  if (process.platform === 'win32' || !process.env.npm_lifecycle_event) return undefined;
  const chain: number[] = [];
  let pid = process.ppid;
  // npm → sh → tsx → node: npm is at most a few levels up.
  for (let depth = 0; depth < 5 && pid > 1; depth += 1) {
    const info = await processInfo(pid);
    if (!info) return undefined;
    chain.push(pid);
    if (isNpm(info.command)) return chain;
    pid = info.ppid;
  }
  return undefined;
}

/** Calls `onGone` once when the launching npm process chain breaks. Returns a function that stops watching. */
export async function watchLauncher(onGone: () => void, intervalMs = 1_000): Promise<() => void> {
  const chain = await launcherChain();
  if (!chain) return () => undefined;
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void (async () => {
      try {
        // Each member must still exist and still have the same parent (an exited npm may linger as a zombie).
        for (let i = 0; i + 1 < chain.length; i += 1) {
          const info = await processInfo(chain[i] as number);
          if (!info || info.ppid !== chain[i + 1]) {
            clearInterval(timer);
            onGone();
            return;
          }
        }
        const npm = await processInfo(chain[chain.length - 1] as number);
        if (!npm || !isNpm(npm.command)) {
          clearInterval(timer);
          onGone();
        }
      } finally {
        checking = false;
      }
    })();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
