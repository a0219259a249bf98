import { scanKeys } from '../redis-scan.ts';
import type { RedisClient } from '../redis-topology.ts';
import { readRecord } from './format.ts';
import type { RegistrationRecord, RegistrationStatus } from './record.ts';

/**
 * Which registrations are in a status: one sorted set per status,
 * `<p>:registrations-by-status:<STATUS>`, members the registration ids, scored by the time
 * the record entered the status (an ended one: its last write). The store's scripts move an id between sets in the same script as
 * the record's compare-and-set (`MOVE_IN_INDEX`), so listing costs O(log n + page) and never
 * walks the keyspace (docs/design.md, "Listing registrations").
 *
 * The index is derived, never trusted alone: a listing reads each record and shows it only if
 * its status still matches. Records whose TTL ended leave their id behind; each write into an
 * ended status (a record entering it) trims that set below the retention cutoff, and a listing drops the ids of
 * records it finds gone. Like the other indexes, its format is its key name: members are
 * bare ids.
 */

export function statusIndexKey(prefix: string, status: RegistrationStatus): string {
  return `${prefix}:registrations-by-status:${status}`;
}

/**
 * Lua, for the store's scripts: KEYS[2] the index of the status read, KEYS[3] of the status
 * written; ARGV[4] the id, ARGV[5] its score, ARGV[6] the trim cutoff (0: none; set for an
 * ended status). A write that keeps an unfinished status leaves the index alone (the score
 * stays the time it entered it); an ended record's score follows its every write, because
 * its TTL does (retention from the last write) and the trim goes by the score. The trim runs
 * when a record enters an ended status, not again on its later writes.
 */
export const MOVE_IN_INDEX = `
local moved = KEYS[2] ~= KEYS[3]
local ended = tonumber(ARGV[6]) > 0
if moved then redis.call('ZREM', KEYS[2], ARGV[4]) end
if moved or ended then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4]) end
if moved and ended then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6]) end`;

export interface ListedRegistration {
  registrationId: string;
  status: RegistrationStatus;
  enqueuedAt: number;
  updatedAt: number;
}

/**
 * Up to `limit` registrations in `status`, the longest there first. Reads the index a page
 * at a time and each page's records with one MGET; ids whose record has gone are removed.
 */
export async function listByStatus(
  redis: RedisClient,
  prefix: string,
  status: RegistrationStatus,
  limit: number,
): Promise<ListedRegistration[]> {
  const key = statusIndexKey(prefix, status);
  const found: ListedRegistration[] = [];
  const page = Math.min(Math.max(limit, 10), 500);
  for (let start = 0; found.length < limit; start += page) {
    const ids = await redis.zrange(key, String(start), String(start + page - 1));
    if (ids.length === 0) break;
    const texts = await redis.mget(ids.map((id) => `${prefix}:registration:${id}`));
    const gone: string[] = [];
    ids.forEach((id, index) => {
      const text = texts[index];
      if (text === null || text === undefined) return void gone.push(id);
      let record: RegistrationRecord;
      try {
        record = readRecord(text);
      } catch {
        return; // a newer release's format: that release lists it
      }
      // Moved on since the page was read, or last written by a release without the index.
      if (record.status !== status || found.length >= limit) return;
      found.push({
        registrationId: id,
        status,
        enqueuedAt: record.enqueuedAt,
        updatedAt: record.updatedAt,
      });
    });
    if (gone.length > 0) {
      await redis.zrem(key, ...gone);
      start -= gone.length; // the set shifted under the cursor
    }
  }
  return found;
}

/**
 * Put every record into its status's set (`esign-worker reindex`): for records a release
 * without the index wrote, once after upgrading. It walks the keyspace (SCAN), so it is an
 * operator's one-off, never part of a listing. `ZADD NX` leaves entries the scripts keep; a
 * record that moves on while this runs can leave its id in the set it left, which listings
 * skip (they check each record's status). Returns how many ids were added.
 */
export async function rebuildStatusIndex(redis: RedisClient, prefix: string): Promise<number> {
  let added = 0;
  const recordKey = `${prefix}:registration:`;
  for await (const keys of scanKeys(redis, `${recordKey}*`)) {
    const texts = await redis.mget(keys);
    const adds: Promise<number>[] = [];
    keys.forEach((key, index) => {
      const text = texts[index];
      if (typeof text !== 'string') return;
      let record: RegistrationRecord;
      try {
        record = readRecord(text);
      } catch {
        return; // a newer release's format: that release indexes it
      }
      const id = key.slice(recordKey.length);
      adds.push(redis.zadd(statusIndexKey(prefix, record.status), 'NX', record.updatedAt, id));
    });
    for (const count of await Promise.all(adds)) added += count;
  }
  return added;
}
