import { escapeGlob } from '../src/lib/redis-scan.ts';
import type { OwnRedis } from './own-redis.ts';

/**
 * Keys that expire within an hour (the results' deduplication keys, say) are counted apart: at a
 * sustained rate they hold the rate × an hour, not the rate × the retention, so they are not
 * memory per finished registration.
 */
export const EXPIRING = 'expiring within an hour';
const EXPIRING_MS = 3_600_000;
/**
 * The results queue's keys, counted apart too: once consumed, results are kept an hour and at
 * most 1,000 per queue (src/queues/queues.ts), a bound whatever the rate.
 */
export const CONSUMED_RESULTS = 'results';

/**
 * The MEMORY USAGE of every key whose name holds `queuePrefix` (the base prefix and each
 * partition's, hash-tagged or not: the bench's prefixes are unique in its own Redis), summed
 * over the masters, by kind: the first name after the prefix (`registration`,
 * `registration-by-submission`, a queue's name for its jobs and lists, `esign` the token), or
 * EXPIRING for a key whose TTL is an hour or less.
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
      for (const key of keys) pipeline.memory('USAGE', key).pttl(key);
      const answers = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const [error, bytes] = answers[2 * i] ?? [null, 0];
        if (error) return;
        const ttl = Number(answers[2 * i + 1]?.[1] ?? -1);
        const kind =
          ttl > 0 && ttl <= EXPIRING_MS
            ? EXPIRING
            : (key.slice(key.indexOf(':') + 1).split(':')[0] ?? '');
        byKind.set(kind, (byKind.get(kind) ?? 0) + Number(bytes ?? 0));
      });
    } while (cursor !== '0');
  }
  return byKind;
}

/** What a finished registration keeps for the retention: all but EXPIRING and CONSUMED_RESULTS. */
export function retainedBytes(byKind: Map<string, number>): number {
  let total = 0;
  for (const [kind, bytes] of byKind)
    if (kind !== EXPIRING && kind !== CONSUMED_RESULTS) total += bytes;
  return total;
}
