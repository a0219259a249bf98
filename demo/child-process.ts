import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI is started as `node src/main.ts <command>` from there. */
const root = fileURLToPath(new URL('..', import.meta.url));

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The service's own CLI in a child process, as production runs it, so part of a local stack
 * can run apart (and a test can SIGKILL or SIGTERM a real process). Its stdout (pino JSON) and
 * stderr are kept for assertions and for the failure message when it dies unexpectedly.
 */
export interface ChildCli {
  process: ChildProcess;
  pid: number;
  lines: string[];
  stderr: string[];
  exited: Promise<ChildExit>;
  /** Still running (no exit seen yet). */
  alive(): boolean;
  /** The first stdout JSON log line whose `msg` is `message`, waiting up to `timeoutMs`. */
  waitForLog(message: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILL if still running and wait for the exit: for cleanup. */
  kill(): Promise<void>;
}

/**
 * Start `node src/main.ts <command>` with exactly `env` (plus PATH), on the Node that runs
 * this process (Node 24 under npm scripts and vitest). `entry` runs another script of the
 * repository instead, e.g. `bin/esign-worker.js`, the CLI as installed.
 */
export function startCli(
  command: string,
  env: Record<string, string>,
  entry = 'src/main.ts',
): ChildCli {
  const child = spawn(process.execPath, [entry, command], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start the ${command} child process`);
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });

  const parsed = (): Record<string, unknown>[] =>
    lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  return {
    process: child,
    pid: child.pid,
    lines,
    stderr,
    exited,
    alive: () => exit === undefined,
    async waitForLog(message, timeoutMs = 15_000) {
      let found: Record<string, unknown> | undefined;
      await waitUntil(
        () => {
          if (exit)
            throw new Error(`${command} exited (${JSON.stringify(exit)}): ${stderr.join('')}`);
          found = parsed().find((entry) => entry.msg === message);
          return found !== undefined;
        },
        { timeoutMs, what: `"${message}" from the ${command} child` },
      );
      return found as Record<string, unknown>;
    },
    async kill() {
      if (exit) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Wait for a condition, checking every `everyMs`, failing after `timeoutMs` with `what` in the
 * message. A bounded wait on a condition, never a sleep standing in for one.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; what: string; everyMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 20));
  }
}

/** The child's exit, or an error naming `what` if it has not exited within `timeoutMs`. */
export async function exitWithin(
  child: ChildCli,
  timeoutMs: number,
  what: string,
): Promise<ChildExit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: the child did not exit within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([child.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}
