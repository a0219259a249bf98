import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-topology.ts';

/**
 * Every key matching a pattern, in batches. SCAN walks one server: on a Cluster each master
 * is walked in turn (a hash-tagged prefix keeps one prefix's keys on one of them, but which
 * one depends on the tag). Batches, not one list, so a large keyspace never sits in memory.
 */
export async function* scanKeys(
  redis: RedisClient,
  pattern: string,
  count = 500,
): AsyncGenerator<string[]> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** A text as a literal in a SCAN pattern (`{esign}` has no glob characters; `[` would). */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
