import { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.ts';

export interface RedisOptions {
  /** Fail commands fast instead of waiting for Redis to come back (request paths). */
  failFast?: boolean;
  name?: string;
  /** Where connection errors go; without a listener ioredis prints them as unhandled. */
  logger?: Logger;
}

/**
 * BullMQ workers need `maxRetriesPerRequest: null` (their blocking commands must wait out a
 * Redis restart). Request paths (the callback listener, producers) must instead fail fast, so
 * a callback gets a 503 while Redis is down rather than hanging: `failFast`.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: options.name,
    ...(options.failFast
      ? { maxRetriesPerRequest: 1, commandTimeout: 5_000 }
      : { maxRetriesPerRequest: null }),
  });
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    // Reconnect attempts repeat the same error many times a second: log at most every 10 s.
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    options.logger?.warn({ err: error, connection: options.name }, 'redis connection error');
  });
  return redis;
}
