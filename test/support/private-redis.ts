import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { answersPing, freeLoopbackPort } from '../../demo/redis-discovery.ts';

/**
 * A redis-server of the test's own, for tests that must stop, kill, freeze or reconfigure Redis
 * (the shared one is never touched): a free loopback port, its own working directory (for AOF
 * files), started with the given arguments, no RDB snapshots (so, unless AOF is asked for, a
 * restart comes back empty, as a Redis that lost its data would). `kill(signal)` stops this
 * process only; `start()` starts it again on the same port and directory. (Cluster and Sentinel
 * set-ups: redis-servers.ts.)
 */
export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  pid(): number | undefined;
  /** Start it again on the same port and directory; a no-op while it runs. */
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGSTOP / SIGCONT: alive but silent (connections stay open, commands get no answer), as a
   * Redis stuck on a slow disk or behind a network that drops packets; then back.
   */
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
  const running = (): ChildProcess | undefined =>
    child && child.exitCode === null && child.signalCode === null ? child : undefined;
  // A run cut short (a timed-out hook, Ctrl-C) must not leave the server behind.
  const killOnExit = () => running()?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const start = async () => {
    // Already up: a second server on the port would fail to bind, and the first one would be
    // forgotten, never stopped.
    if (running()) return;
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
    const server = running();
    if (!server) return;
    server.kill(signal); // SIGKILL ends a frozen process too
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
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
