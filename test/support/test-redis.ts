import {
  describeRedisUrl,
  discoverRedis,
  RedisUnavailableError,
  type DiscoveryOptions,
} from '../../demo/redis-discovery.ts';

export interface TestRedis {
  url: string;
  origin: 'REDIS_URL' | 'localhost' | 'temporary redis-server' | 'testcontainers';
  stop(): Promise<void>;
  /** A temporary redis-server's process id (see FoundRedis.pid). */
  pid?: number;
}

/**
 * Redis for the test run, in this order: REDIS_URL (and nothing else when it is set); else
 * whatever answers on 127.0.0.1:6379; else a temporary redis-server on a free loopback port —
 * the demo's discovery, reused so both find Redis the same way — and only then a testcontainers
 * container, the one step that needs a Docker engine. Throws RedisUnavailableError, whose
 * message is one line saying how to get a Redis, when none of them works.
 */
export async function findTestRedis(
  options: Omit<DiscoveryOptions, 'neededBy'>,
): Promise<TestRedis> {
  try {
    return await discoverRedis({
      ...options,
      neededBy: { who: 'the test run', command: 'npm test' },
    });
  } catch (error) {
    // A REDIS_URL that does not answer is the user's mistake to hear about, not to paper over.
    if (!(error instanceof RedisUnavailableError) || options.redisUrl) throw error;
    const container = await startContainer();
    if (typeof container !== 'string') return container;
    throw new RedisUnavailableError(
      `${error.message} (testcontainers could not start one either: ${container})`,
    );
  }
}

/** A Redis container, or why there is none (typically: no Docker engine). */
async function startContainer(): Promise<TestRedis | string> {
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    return {
      url: container.getConnectionUrl(),
      origin: 'testcontainers',
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    return (error as Error).message.split('\n')[0] ?? 'unknown error';
  }
}

/** For the run's log: where Redis came from, without any password in the URL. */
export function describeTestRedis(redis: TestRedis): string {
  return `${redis.origin} (${describeRedisUrl(redis.url)})`;
}
