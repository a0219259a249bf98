import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../lib/redis-topology.ts';
import { DELETE_IF_EQUAL, StoreScript } from '../lib/registration/store-scripts.ts';

/**
 * Who sweeps a partition this round (redrive.ts): one worker process at a time, across all of
 * them, instead of every process every interval (a sweep's cost is per in-flight registration,
 * so W processes sweeping cost W times as much for the same result).
 *
 * The lease is one key under the partition's prefix, `<prefix>:redrive:lease` (hash-tagged on a
 * Cluster, so on the partition's slot), holding a random owner id with a Redis TTL. Its value
 * is an opaque owner id that only its writer compares, living seconds: it has no format (as
 * the partner token's lock, lib/esign/token-cache.ts). Every process tries to claim it at each
 * of its rounds, in one script: taken when free (SET PX), renewed when it is already ours
 * (PEXPIRE), refused when another's. So a slow holder never extends or frees someone else's
 * lease. Released (compare-and-delete) when the holder stops, so another takes it at its next
 * round; a holder that dies without releasing it loses it when it expires. When Redis loses the
 * key (a rollback, a failover), the next process to claim it simply takes it: the worst case is
 * two sweeps in one interval, which add the same job ids (redrive.ts), so nothing twice.
 */

export interface RedriveLease {
  /** True when this process holds the partition's lease (taken or renewed now). */
  claim(): Promise<boolean>;
  /** Give it up if still ours, so another process takes it at its next round. */
  release(): Promise<void>;
}

export function redriveLeaseKey(prefix: string): string {
  return `${prefix}:redrive:lease`;
}

const CLAIM = new StoreScript(`
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if held then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

/**
 * How long a claim holds: a round's interval plus a margin (a fifth of it, at least a second),
 * so a holder whose round comes a little late (a busy event loop, a slow round trip) renews it
 * before it lapses and keeps it; a dead holder's lease is taken over within about one interval
 * after it lapses, so within about two of the holder's last round.
 */
export function redriveLeaseMs(intervalMs: number): number {
  return intervalMs + Math.max(1_000, Math.round(intervalMs / 5));
}

export function createRedriveLease(
  redis: RedisClient,
  prefix: string,
  ttlMs: number,
): RedriveLease {
  const key = redriveLeaseKey(prefix);
  const owner = randomUUID();
  return {
    async claim() {
      return (await CLAIM.run(redis, [key], [owner, String(ttlMs)])) === 1;
    },
    async release() {
      await DELETE_IF_EQUAL.run(redis, [key], [owner]);
    },
  };
}
