import { escapeGlob } from '../src/lib/redis-scan.ts';
import type { OwnRedis } from './own-redis.ts';

/**
 * The MEMORY USAGE of every key whose name holds `queuePrefix` (the base prefix and each
 * partition's, hash-tagged or not: the bench's prefixes are unique in its own Redis), summed
 * over the masters, by kind: the first name after the prefix (`registration`,
 * `registration-by-submission`, a queue's name for its jobs and lists, `esign` the token).
 */
export async function keptBytes(
  redis: OwnRedis,
  queuePrefix: string,
): Promise<Map<string, number>> {
  const byKind = new Map<string, number>();
  const pattern = `*${escapeGlob(queuePrefix)}*`;
  for (const master of redis.masters) {
    let cursor = '0';
    do {
      const [next, keys] = await master.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = master.pipeline();
      for (const key of keys) pipeline.memory('USAGE', key);
      const answers = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const [error, bytes] = answers[i] ?? [null, 0];
        if (error) return;
        const kind = key.slice(key.indexOf(':') + 1).split(':')[0] ?? '';
        byKind.set(kind, (byKind.get(kind) ?? 0) + Number(bytes ?? 0));
      });
    } while (cursor !== '0');
  }
  return byKind;
}

export function totalBytes(byKind: Map<string, number>): number {
  let total = 0;
  for (const bytes of byKind.values()) total += bytes;
  return total;
}
