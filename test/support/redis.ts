import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { connectRedis } from '../../src/app/redis.ts';
import { loadConfig } from '../../src/lib/config.ts';
import type { RedisClient } from '../../src/lib/redis-topology.ts';

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

/**
 * The Redis variables of the project's topology (test/support/topology-setup.ts): REDIS_URL
 * for the default project, REDIS_CLUSTER_NODES or REDIS_SENTINELS(+_MASTER) for the others.
 */
export function topologyEnv(): Record<string, string> {
  const env = inject('redisEnv');
  return Object.keys(env).length > 0 ? env : { REDIS_URL: redisUrl() };
}

/** The same topology, with nothing answering: what a Redis outage looks like to the service. */
export function unreachableTopologyEnv(): Record<string, string> {
  const env = inject('redisEnv');
  if (env.REDIS_CLUSTER_NODES) return { REDIS_CLUSTER_NODES: '127.0.0.1:1' };
  if (env.REDIS_SENTINELS)
    return { REDIS_SENTINELS: '127.0.0.1:1', REDIS_SENTINEL_MASTER: 'unreachable' };
  return { REDIS_URL: 'redis://127.0.0.1:1' };
}

/** A connection to the project's topology (a Cluster client on the cluster project). */
export function connectTopology(): RedisClient {
  return connectRedis(loadConfig(topologyEnv(), ['common']).common.redis, {});
}
