import { spawn, type ChildProcess } from 'node:child_process';
import { answersPing, freeLoopbackPort } from '../../demo/redis-discovery.ts';
import { waitUntil } from '../../demo/child-process.ts';

/**
 * A redis-server of the test's own, on a free loopback port, that the test may SIGKILL,
 * freeze and start again on the same port: never the shared Redis other tests use. No
 * persistence, so a restart comes back empty, as a Redis that lost its data would.
 */
export interface OwnRedis {
  url: string;
  /** SIGKILL this server (only it) and wait for it to be gone. */
  kill(): Promise<void>;
  /**
   * SIGSTOP it: connections stay open and commands get no answer, as with a Redis stuck on a
   * slow disk or a network that drops packets. `thaw` (SIGCONT) lets it go on.
   */
  freeze(): void;
  thaw(): void;
  /** Start it again on the same port (if it is not running) and wait until it answers PING. */
  restart(): Promise<void>;
  /** Stop it if it runs: for cleanup. */
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freeLoopbackPort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const running = (): ChildProcess | undefined =>
    child && child.exitCode === null && child.signalCode === null ? child : undefined;
  // A run cut short (a timed-out hook, Ctrl-C) must not leave the server behind.
  const killOnExit = () => running()?.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function start(): Promise<void> {
    // Already up: a second server on the port would fail to bind, and the first one would be
    // forgotten, never stopped.
    if (running()) return;
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    child = server;
    exited = new Promise((resolve) => server.once('exit', () => resolve()));
    await waitUntil(() => answersPing(url, 500), {
      timeoutMs: 10_000,
      what: `the test's own redis-server on port ${port}`,
      everyMs: 50,
    });
  }

  async function kill(): Promise<void> {
    const server = running();
    if (!server) return;
    server.kill('SIGKILL'); // ends a frozen process too
    await exited;
  }

  await start();
  return {
    url,
    kill,
    freeze: () => running()?.kill('SIGSTOP'),
    thaw: () => running()?.kill('SIGCONT'),
    restart: start,
    async stop() {
      await kill();
      process.off('exit', killOnExit);
    },
  };
}
