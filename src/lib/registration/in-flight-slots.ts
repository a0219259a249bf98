import type { RedisClient } from '../redis-topology.ts';
import { scanKeys } from '../redis-scan.ts';
import type { RegistrationRecord } from './record.ts';
import type { StoreKeys } from './store-keys.ts';
import { DELETE_IF_EQUAL } from './store-scripts.ts';

/**
 * The users' in-flight slots, `<p>:registration-in-flight:<sha256(type, user)>` → the id of the
 * user's unfinished registration (one at a time per user: the poll API answers per user). The
 * store's scripts claim a slot with the record (create, retry) and free it with the write that
 * ends it; these are the other uses: keeping it alive with its record, freeing it after a
 * crash, and listing every unfinished registration (re-drive).
 */
export class InFlightSlots {
  private readonly redis: RedisClient;
  private readonly keys: StoreKeys;

  constructor(redis: RedisClient, keys: StoreKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  /** The slot of a registration's user. */
  key(record: Pick<RegistrationRecord, 'partnerUserIdType' | 'partnerUserId'>): string {
    return this.keys.inFlight(record.partnerUserIdType, record.partnerUserId);
  }

  /** The slot lives `ttlMs` more, as its in-flight record does (after the deadline moved out). */
  async expire(record: RegistrationRecord, ttlMs: number): Promise<void> {
    if (ttlMs > 0) await this.redis.pexpire(this.key(record), ttlMs);
  }

  /** Free the user's slot, only if this registration still holds it. */
  async release(record: RegistrationRecord): Promise<void> {
    await DELETE_IF_EQUAL.run(this.redis, [this.key(record)], [record.registrationId]);
  }

  /**
   * The registrations that hold a user's slot, in batches: every unfinished one (and, briefly,
   * one that ended and has not freed it yet).
   */
  async *ids(): AsyncGenerator<string[]> {
    for await (const keys of scanKeys(this.redis, this.keys.inFlightPattern(), 200)) {
      const ids = await this.redis.mget(...keys);
      yield ids.filter((id): id is string => id !== null);
    }
  }
}
