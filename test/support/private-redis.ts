import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { answersPing, freeLoopbackPort } from '../../demo/redis-discovery.ts';

/**
 * A redis-server of the test's own, for tests that must stop, kill or reconfigure Redis (the
 * shared one is never touched): a free loopback port, its own working directory (for AOF
 * files), started with the given arguments. `kill(signal)` stops this process only;
 * `start()` starts it again on the same port and directory.
 */
export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  pid(): number | undefined;
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT: alive but silent (connections stay open), then back. */
  pause(): void;
  resume(): void;
  /** Kill it and remove its directory. */
  close(): Promise<void>;
}

export async function startPrivateRedis(args: readonly string[] = []): Promise<PrivateRedis> {
  const port = await freeLoopbackPort();
  const dir = await mkdtemp(join(tmpdir(), 'esign-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args],
      { stdio: 'ignore' },
    );
    child = started;
    exited = new Promise<void>((resolve) => {
      started.once('exit', () => resolve());
      started.once('error', () => resolve());
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (started.exitCode !== null) break;
      if (await answersPing(url, 500)) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    running.kill(signal);
    await exited;
  };

  await start();
  return {
    port,
    url,
    dir,
    pid: () => child?.pid,
    start,
    kill,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      await kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
