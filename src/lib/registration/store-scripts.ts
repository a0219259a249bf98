import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis-topology.ts';
import { MOVE_IN_INDEX } from './status-index.ts';

/**
 * The Lua scripts behind the registration store (store.ts): each touches the record, the
 * user's in-flight slot, the indexes and the images in one step, all under one prefix (one
 * slot on a Cluster). They are sent by SHA (EVALSHA), the source only when Redis does not
 * have it yet (a restart, a failover: NOSCRIPT), so a compare-and-set does not ship its
 * source on every write.
 */
export class StoreScript {
  readonly source: string;
  private readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly string[]) {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Lua: apply `arg` (timerArg, timers.ts) to `member` of the registration timers `key`. */
const SET_TIMER = (key: string, member: string, arg: string) => `
if ${arg} == '-' then redis.call('ZREM', ${key}, ${member})
elseif ${arg} ~= '' then redis.call('ZADD', ${key}, ${arg}, ${member}) end`;

/**
 * Lua: answer {'in-flight', holder} when the user's slot `slot` is held by another registration
 * that has not ended; `self` is this registration's id, `records` the record keys' prefix.
 */
const refuseHeldSlot = (slot: string, self: string, records: string) => `
local holder = redis.call('GET', ${slot})
if holder and holder ~= ${self} then
  local held = redis.call('GET', ${records} .. holder)
  if held and cjson.decode(held)['result'] == nil then return {'in-flight', holder} end
end`;

/**
 * Lua: `version`, the version of the stored record `current`, read from the head of the value
 * (writeRecord puts it first), so it costs the same whatever the record holds; only a record
 * the previous release wrote (format 1) is decoded.
 */
const READ_VERSION = `
local version = string.match(current, '^{"version":(%d+),')
if version then version = tonumber(version) else version = cjson.decode(current)['version'] end`;

// The user's slot is taken over when its holder is gone (record expired or deleted) or has
// ended (has a result) without freeing it, e.g. a crash between the result and the release:
// a stale slot must never lock a user out for good.
export const CREATE = new StoreScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', ''} end
${refuseHeldSlot('KEYS[2]', 'ARGV[2]', 'ARGV[3]')}
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
${SET_TIMER('KEYS[4]', 'ARGV[2]', 'ARGV[6]')}
return {'created', ''}`);

// The status index moves with the record, in the same script: KEYS[2] is the index of the
// status read (the version check proves it current), KEYS[3] the one written. A stale read
// gets the record as it is back, so the caller retries without another GET.
//
// What the write implies is done in it, so no crash can come between (ARGV[7..9], '1' or ''):
// the images go when the record reaches UPLOADED, a confirmation or an end (KEYS[5], KEYS[6]);
// the user's slot is freed, if this registration holds it, when it ends (KEYS[4]); a new
// submission is indexed (KEYS[7]) for ARGV[9] ms; the registration's timer (KEYS[8]) follows
// ARGV[10] (timers.ts).
export const COMPARE_AND_SET = new StoreScript(`
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
${READ_VERSION}
if version ~= tonumber(ARGV[1]) then return current end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
${MOVE_IN_INDEX}
if ARGV[7] == '1' then redis.call('DEL', KEYS[5], KEYS[6]) end
if ARGV[8] == '1' and redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
if tonumber(ARGV[9]) > 0 then redis.call('SET', KEYS[7], ARGV[4], 'PX', ARGV[9]) end
${SET_TIMER('KEYS[8]', 'ARGV[4]', 'ARGV[10]')}
return 1`);

// A retry: the compare-and-set above, plus the user's slot claimed again by CREATE's rule and
// the new attempt's timer (KEYS[5], ARGV[8]).
export const RETRY = new StoreScript(`
local current = redis.call('GET', KEYS[1])
if not current then return {'missing', ''} end
${READ_VERSION}
if version ~= tonumber(ARGV[1]) then return {'conflict', ''} end
${refuseHeldSlot('KEYS[4]', 'ARGV[4]', 'ARGV[7]')}
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[4], ARGV[4])
${MOVE_IN_INDEX}
${SET_TIMER('KEYS[5]', 'ARGV[4]', 'ARGV[8]')}
return {'retried', ''}`);

export const DELETE_IF_EQUAL = new StoreScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

// The registration holding a submission (KEYS[1], its index entry) and its record (ARGV[1] is
// the records' key prefix), in one round trip: {id, record or false}, or false when unknown.
export const RECORD_OF_SUBMISSION = new StoreScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
return {id, redis.call('GET', ARGV[1] .. id)}`);
