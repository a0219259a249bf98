import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/**
 * Where the demo's Redis comes from, in this order: REDIS_URL when set (and nothing else: a
 * user who names a Redis means that one); else whatever answers on localhost:6379; else a
 * throw-away `redis-server` from PATH on a free loopback port, stopped again by `stop()`.
 * The test setup searches the same way (test/support/test-redis.ts).
 */

export type RedisOrigin = 'REDIS_URL' | 'localhost' | 'temporary redis-server';

export interface FoundRedis {
  url: string;
  origin: RedisOrigin;
  /** Stops the temporary redis-server; a no-op for a Redis the demo did not start. */
  stop(): Promise<void>;
  /**
   * The temporary redis-server's process id: it runs in its own process group, so an owner
   * that can exit without awaiting stop() (the test run on Ctrl-C) kills it by this id.
   */
  pid?: number;
}

export interface DiscoveryOptions {
  /** The user's REDIS_URL, if any. */
  redisUrl: string | undefined;
  /** Default redis://127.0.0.1:6379. */
  localUrl?: string;
  /** Default `redis-server`, looked up on PATH. */
  redisServerCommand?: string;
  /** How long one PING may take; default 700 ms. */
  pingTimeoutMs?: number;
  /** How long a started redis-server may take to answer; default 5 s. */
  startTimeoutMs?: number;
  /**
   * Who needs Redis, for the error messages (the test setup reuses this discovery); default
   * `{ who: 'the demo', command: 'npm run demo' }`.
   */
  neededBy?: { who: string; command: string };
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

export async function discoverRedis(options: DiscoveryOptions): Promise<FoundRedis> {
  const timeoutMs = options.pingTimeoutMs ?? 700;
  const { who, command: userCommand } = options.neededBy ?? {
    who: 'the demo',
    command: 'npm run demo',
  };
  const noop = () => Promise.resolve();
  if (options.redisUrl) {
    if (await answersPing(options.redisUrl, timeoutMs))
      return { url: options.redisUrl, origin: 'REDIS_URL', stop: noop };
    throw new RedisUnavailableError(
      `REDIS_URL is set but the Redis at ${describeRedisUrl(options.redisUrl)} did not answer ` +
        `PING within ${timeoutMs} ms. Start it, fix REDIS_URL, or unset REDIS_URL to let ${who} ` +
        'find or start one.',
    );
  }
  const localUrl = options.localUrl ?? 'redis://127.0.0.1:6379';
  if (await answersPing(localUrl, timeoutMs))
    return { url: localUrl, origin: 'localhost', stop: noop };

  const command = options.redisServerCommand ?? 'redis-server';
  const started = await startTemporaryRedis(command, options.startTimeoutMs ?? 5_000, timeoutMs);
  if (started) return started;
  throw new RedisUnavailableError(
    `${who.charAt(0).toUpperCase()}${who.slice(1)} needs Redis: REDIS_URL is not set, nothing ` +
      `answers on ${describeRedisUrl(localUrl)}, and "${command}" could not be started from PATH. ` +
      'Install one (e.g. `sudo apt-get install redis-server`) or point REDIS_URL at a running ' +
      `Redis (REDIS_URL=redis://host:6379 ${userCommand}).`,
  );
}

/** host:port only: a URL may carry a password, which must not reach the terminal or logs. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'an unparsable URL';
  }
}

/** One connection attempt, no retries, no offline queue: an answer or false within the timeout. */
export async function answersPing(url: string, timeoutMs: number): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // the outcome is the return value, not an event
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** A loopback port nothing listens on right now (tests start their own servers on one). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

export async function startTemporaryRedis(
  command: string,
  startTimeoutMs: number,
  pingTimeoutMs: number,
): Promise<FoundRedis | undefined> {
  const port = await freeLoopbackPort();
  let child: ChildProcess;
  try {
    // Its own process group: Ctrl-C reaches the demo, which then shuts Redis down last.
    child = spawn(
      command,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore', detached: true },
    );
  } catch {
    return undefined;
  }
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('error', () => {
      exited = true;
      resolve();
    });
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    await Promise.race([exit, sleep(3_000)]);
    if (!exited) child.kill('SIGKILL');
  };
  const deadline = Date.now() + startTimeoutMs;
  while (!exited && Date.now() < deadline) {
    if (await answersPing(url, pingTimeoutMs))
      return { url, origin: 'temporary redis-server', stop, pid: child.pid };
    await sleep(50);
  }
  await stop();
  return undefined;
}
