import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** The Redis URL the global setup provides (see test/support/test-redis.ts). */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A queue/key prefix no other test uses. */
export function uniquePrefix(label = 't'): string {
  return `test-${label}-${randomUUID().slice(0, 8)}`;
}

/** A fresh connection; BullMQ workers need maxRetriesPerRequest: null. */
export function connect(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: null });
}

/** Delete every key under a prefix (what a test wrote), then close the connection. */
export async function cleanPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Every key under a prefix, sorted (SCAN order is not stable). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}
