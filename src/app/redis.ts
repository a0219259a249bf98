import { Redis } from 'ioredis';

/**
 * BullMQ workers need `maxRetriesPerRequest: null` (their blocking commands must wait out a
 * Redis restart). Request paths (the callback listener, producers) must instead fail fast, so
 * a callback gets a 503 while Redis is down rather than hanging: `failFast`.
 */
export function connectRedis(
  url: string,
  options: { failFast?: boolean; name?: string } = {},
): Redis {
  return new Redis(url, {
    connectionName: options.name,
    ...(options.failFast
      ? { maxRetriesPerRequest: 1, commandTimeout: 5_000 }
      : { maxRetriesPerRequest: null }),
  });
}
