import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { answersPing, RedisUnavailableError } from '../demo/redis-discovery.ts';
import { redisUrl } from './support/redis.ts';
import {
  canInstallWithApt,
  ensureSystemTools,
  findOnPath,
  MissingToolError,
  systemTools,
  type SystemTool,
} from './support/system-tools.ts';
import { findTestRedis } from './support/test-redis.ts';

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The error a call throws, to check its message (the one line a user reads). */
function thrownBy(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

const noSuchTool: SystemTool = {
  command: 'esign-test-no-such-tool',
  aptPackage: 'esign-test-no-such-package',
  why: 'to prove a missing tool stops the run',
};

describe('system tools for the tests', () => {
  it('are all on PATH once the global setup ran, so nothing is left to install', () => {
    for (const tool of systemTools) expect(findOnPath(tool.command), tool.command).toBeDefined();
    expect(ensureSystemTools(systemTools)).toEqual([]);
  });

  it('when they cannot be installed, stop the run with one line naming the apt package', () => {
    const error = thrownBy(() => ensureSystemTools([noSuchTool], { canInstall: false }));
    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toContain('esign-test-no-such-tool (to prove a missing tool');
    expect(error.message).toContain('`sudo apt-get install esign-test-no-such-package`');
    expect(error.message).not.toContain('\n');
  });

  it('when apt-get does not provide the package, say so in one line', () => {
    // Runs the real apt-get (update, then install) where this machine allows it.
    const logged: string[] = [];
    const error = thrownBy(() => ensureSystemTools([noSuchTool], { log: (l) => logged.push(l) }));
    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toContain('esign-test-no-such-package');
    expect(error.message).not.toContain('\n');
    if (canInstallWithApt()) {
      expect(logged).toEqual([
        'npm test: installing apt package esign-test-no-such-package for ' +
          'esign-test-no-such-tool (to prove a missing tool stops the run)',
      ]);
      expect(error.message).toContain(
        'but `apt-get install esign-test-no-such-package` failed (exit 100: E: Unable to locate ' +
          'package esign-test-no-such-package): install apt package esign-test-no-such-package',
      );
    }
  });

  it('count a tool as missing until it is on PATH, even when its package installed', () => {
    const promtool = systemTools.find((tool) => tool.command === 'promtool');
    if (!promtool) throw new Error('promtool left the list');
    const error = thrownBy(() =>
      ensureSystemTools([promtool], { path: '/nonexistent', canInstall: true, log: () => {} }),
    );
    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toContain('apt-get install prometheus');
    if (canInstallWithApt())
      expect(error.message).toContain(
        'but it is not on PATH even though `apt-get install prometheus` succeeded',
      );
  });
});

describe('Redis for the tests', () => {
  it('is REDIS_URL when set', async () => {
    const found = await findTestRedis({ redisUrl: redisUrl() });
    expect(found).toMatchObject({ url: redisUrl(), origin: 'REDIS_URL' });
  });

  it('is never something else when REDIS_URL is set but does not answer', async () => {
    const attempt = findTestRedis({
      redisUrl: `redis://127.0.0.1:${await closedPort()}`,
      pingTimeoutMs: 300,
    });
    await expect(attempt).rejects.toThrow(RedisUnavailableError);
    await expect(attempt).rejects.toThrow(/unset REDIS_URL to let the test run find or start one/);
  });

  it('without REDIS_URL is the local Redis when it answers', async () => {
    const found = await findTestRedis({ redisUrl: undefined, localUrl: redisUrl() });
    expect(found).toMatchObject({ url: redisUrl(), origin: 'localhost' });
  });

  it('without a local Redis is a temporary redis-server, stopped at teardown', async () => {
    const localUrl = `redis://127.0.0.1:${await closedPort()}`;
    const found = await findTestRedis({ redisUrl: undefined, localUrl, pingTimeoutMs: 300 });
    expect(found.origin).toBe('temporary redis-server');
    expect(await answersPing(found.url, 500)).toBe(true);
    await found.stop();
    expect(await answersPing(found.url, 300)).toBe(false);
  });

  it('without redis-server falls back to testcontainers, else says in one line how to get one', async () => {
    const localUrl = `redis://127.0.0.1:${await closedPort()}`;
    const redisServerCommand = 'esign-test-no-such-redis-server';
    const attempt = findTestRedis({ redisUrl: undefined, localUrl, redisServerCommand });
    const outcome = await attempt.catch((error: unknown) => error as Error);
    if (!(outcome instanceof Error)) {
      // A machine with a Docker engine: the last resort worked.
      expect(outcome.origin).toBe('testcontainers');
      await outcome.stop();
      return;
    }
    expect(outcome).toBeInstanceOf(RedisUnavailableError);
    expect(outcome.message).toContain('apt-get install redis-server');
    expect(outcome.message).toContain('REDIS_URL=redis://host:6379 npm test');
    expect(outcome.message).toContain('testcontainers could not start one either');
    expect(outcome.message).not.toContain('\n');
  });
});
