import { within } from './deadline.ts';
import type { RedisClient } from './redis-topology.ts';

/**
 * How long a Redis connection is given to QUIT before it is dropped. QUIT waits for the
 * commands ahead of it; on a connection that waits out outages (`maxRetriesPerRequest: null`)
 * those can wait for ever, and a shutdown must not.
 */
export const REDIS_QUIT_TIMEOUT_MS = 200;

/** QUIT (the replies in flight are read), bounded; then drop the connection if still open. */
export async function closeRedis(
  redis: RedisClient,
  timeoutMs = REDIS_QUIT_TIMEOUT_MS,
): Promise<void> {
  try {
    await within(redis.quit(), timeoutMs, 'Redis QUIT');
  } catch {
    // Not connected, or QUIT stuck behind other commands: dropping is all that is left.
  } finally {
    if (redis.status !== 'end') redis.disconnect();
  }
}
