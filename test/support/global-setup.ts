import type { TestProject } from 'vitest/node';
import { RedisUnavailableError } from '../../demo/redis-discovery.ts';
import { ensureSystemTools, MissingToolError, systemTools } from './system-tools.ts';
import { describeTestRedis, findTestRedis } from './test-redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * What `npm test` needs beyond node_modules, so that `npm ci && npm test` works on a fresh
 * machine: first the system tools (installed with apt-get when running as root; redis-server
 * among them, so the Redis search below can start one), then one Redis for the whole run
 * (see findTestRedis). Tests isolate themselves with unique key prefixes, so one server
 * serves every file.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  try {
    ensureSystemTools(systemTools);
    const redis = await findTestRedis({ redisUrl: process.env.REDIS_URL || undefined });
    process.stderr.write(`npm test: Redis from ${describeTestRedis(redis)}\n`);
    project.provide('redisUrl', redis.url);
    const { pid } = redis;
    if (pid === undefined) return () => redis.stop();
    // On Ctrl-C vitest exits without running teardowns, and a temporary redis-server (in its
    // own process group) would outlive the run: kill it on the way out.
    const killOnExit = () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    process.once('exit', killOnExit);
    return async () => {
      process.off('exit', killOnExit);
      await redis.stop();
    };
  } catch (error) {
    if (error instanceof MissingToolError || error instanceof RedisUnavailableError)
      stopTheRun(error.message);
    throw error; // anything else is a bug here: its stack trace is worth showing
  }
}

/**
 * Ends the run with just the message. Throwing instead would make vitest print "No test files
 * found" and a stack trace around it, which bury the one line that says what to do. Nothing
 * needs cleaning up at this point: each step stops what it started before it fails.
 */
function stopTheRun(message: string): never {
  process.stderr.write(`\n${message}\n`);
  process.exit(1);
}
