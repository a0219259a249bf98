import type { CommonConfig } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { closeRedis } from '../lib/redis-close.ts';
import { connectRedis } from './redis.ts';
import { ValidationError } from '../lib/errors.ts';
import { escapeGlob, scanKeys } from '../lib/redis-scan.ts';
import { partitionPrefixes, type RedisClient } from '../lib/redis-topology.ts';
import { RegistrationStore } from '../lib/registration/store.ts';

/**
 * QUEUE_PARTITIONS decides which prefix holds a registration, so changing it while
 * registrations are in flight would strand them under prefixes no worker reads. The layout in
 * use is kept in Redis (`<base>:partition-layout`, `{"v":1,"partitions":N}`; none yet means
 * the one-prefix layout every release before partitions used). A start with another count is
 * refused while any registration of the old layout is unfinished, and records the new count
 * once there is none.
 */
export async function assertPartitionLayout(
  redis: RedisClient,
  common: Pick<CommonConfig, 'QUEUE_PREFIX' | 'QUEUE_PARTITIONS' | 'keyPrefix'>,
): Promise<void> {
  const key = `${common.keyPrefix}:partition-layout`;
  const stored = await redis.get(key);
  const previous = stored === null ? 1 : readLayout(stored);
  const wanted = common.QUEUE_PARTITIONS;
  if (previous !== wanted) {
    const unfinished = await countUnfinished(
      redis,
      partitionPrefixes(common.QUEUE_PREFIX, common.keyPrefix, previous),
    );
    if (unfinished > 0)
      throw new ValidationError('The environment', [
        `QUEUE_PARTITIONS: is ${wanted} but ${unfinished} registration(s) are still in flight ` +
          `under the previous ${previous} partition(s). Set it back to ${previous}, stop the ` +
          'producers and let the workers finish them (no registration-in-flight keys left), then change it',
      ]);
  }
  // No key already means one partition: nothing to write then (an enqueue refused for its
  // request on a fresh prefix leaves Redis untouched).
  if (previous !== wanted) await redis.set(key, JSON.stringify({ v: 1, partitions: wanted }));
}

function readLayout(text: string): number {
  const parsed = JSON.parse(text) as { v?: unknown; partitions?: unknown };
  if (parsed.v !== 1 || typeof parsed.partitions !== 'number')
    throw new Error('the partition layout in Redis has a format this release does not know');
  return parsed.partitions;
}

/** Registrations holding a user's in-flight slot without a result, under these prefixes. */
async function countUnfinished(redis: RedisClient, prefixes: string[]): Promise<number> {
  let unfinished = 0;
  for (const prefix of prefixes) {
    const store = new RegistrationStore({ redis, prefix, retentionMs: 0 });
    for await (const keys of scanKeys(redis, `${escapeGlob(prefix)}:registration-in-flight:*`))
      for (const key of keys) {
        const holder = await redis.get(key);
        const record = holder === null ? undefined : await store.get(holder);
        if (record && !record.result) unfinished += 1;
      }
  }
  return unfinished;
}

/**
 * The check on a short-lived fail-fast connection of its own, at the start of the commands
 * that read or write partitions. A changed layout throws (a ValidationError naming
 * QUEUE_PARTITIONS). When Redis cannot be asked, a service still starts and waits for Redis as
 * before, with a warning: the check is then up to the next start.
 */
export async function checkPartitionLayout(common: CommonConfig, logger?: Logger): Promise<void> {
  const redis = connectRedis(common.redis, {
    failFast: true,
    name: 'esign-layout-check',
    logger,
  });
  try {
    await assertPartitionLayout(redis, common);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    logger?.warn({ err: error }, 'the partition layout could not be checked (Redis unreachable)');
  } finally {
    // Bounded, and dropped if still reconnecting: QUIT alone leaves a client that never
    // reached Redis retrying for ever.
    await closeRedis(redis);
  }
}
