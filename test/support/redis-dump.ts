import type { Redis } from 'ioredis';
import { keysUnder } from './redis.ts';

/**
 * Everything Redis holds under a prefix, as bytes: every key's name and value, whatever its
 * type (string, hash, list, set, sorted set, stream). What someone with a copy of Redis (an
 * RDB, an AOF, a replica) would have, to search for plaintext.
 */
export async function dumpUnder(redis: Redis, prefix: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const key of await keysUnder(redis, prefix)) {
    parts.push(Buffer.from(`\n${key}\n`));
    const type = await redis.type(key);
    if (type === 'string') parts.push((await redis.getBuffer(key)) ?? Buffer.alloc(0));
    else if (type === 'hash')
      for (const [field, value] of Object.entries(await redis.hgetallBuffer(key)))
        parts.push(Buffer.from(field), value);
    else if (type === 'list') parts.push(...(await redis.lrangeBuffer(key, 0, -1)));
    else if (type === 'set') parts.push(...(await redis.smembersBuffer(key)));
    else if (type === 'zset') parts.push(...(await redis.zrangeBuffer(key, '0', '-1')));
    else if (type === 'stream')
      parts.push(Buffer.from(JSON.stringify(await redis.xrange(key, '-', '+'))));
    else if (type !== 'none') throw new Error(`key of an unexpected type ${type}`);
  }
  return Buffer.concat(parts);
}

/** The needles found in the dump, as bytes (so sealed binary values are searched too). */
export function foundIn(dump: Buffer, needles: Record<string, string | Buffer>): string[] {
  return Object.entries(needles)
    .filter(([, needle]) => dump.includes(needle))
    .map(([name]) => name);
}
