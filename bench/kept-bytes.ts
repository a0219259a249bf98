import type { OwnRedis } from './own-redis.ts';

/** The MEMORY USAGE of every key under `keyPrefix`, summed over the masters. */
export async function keptBytes(redis: OwnRedis, keyPrefix: string): Promise<number> {
  let total = 0;
  // A hash-tagged prefix ({bench-…}) has no glob characters; escape any that a prefix has.
  const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  for (const master of redis.masters) {
    let cursor = '0';
    do {
      const [next, keys] = await master.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = master.pipeline();
      for (const key of keys) pipeline.memory('USAGE', key);
      for (const [error, bytes] of (await pipeline.exec()) ?? [])
        if (!error) total += Number(bytes ?? 0);
    } while (cursor !== '0');
  }
  return total;
}
