import type { RedisClient } from '../redis-topology.ts';
import { jobIds, type CompleteJobData, type PollJobData } from './jobs.ts';
import { StoreScript } from './store-scripts.ts';
import { attemptOf, isTerminal, type RegistrationRecord } from './record.ts';

/**
 * The registration timers: when an unfinished registration next needs a job that nothing else
 * will add — its fallback poll (CALLBACK_TIMEOUT_MS after confirmation, then backing off) and
 * its deadline. One sorted set per prefix, `<p>:registration-timers`, members the registration
 * ids, scored by the earliest of those times (`wakeAt`).
 *
 * Why not delayed jobs: most registrations end by callback long before either is due, and a
 * BullMQ delayed job costs about 11 Redis commands to add and 17 to remove, each its own round
 * trip. A timer is one `ZADD` inside the record's own write script, and one `ZREM` inside the
 * write that ends it: no round trip of its own, and never out of step with the record, since
 * both change in one script (store-scripts.ts). The record alone says what is due (`dueJobs`);
 * the sweeper (queues/timers.ts) turns due timers into jobs under the usual deterministic ids.
 * The set's format is its key name: members are bare ids, scores epoch milliseconds.
 */

export function timersKey(prefix: string): string {
  return `${prefix}:registration-timers`;
}

/**
 * When the registration's timer must wake: the earlier of its pending poll and (when it waits
 * in the timers) its deadline; undefined once ended, or with neither (not confirmed yet, and a
 * deadline that is a delayed job from before).
 */
export function wakeAt(record: RegistrationRecord): number | undefined {
  if (record.result !== undefined || isTerminal(record.status)) return undefined;
  const deadline = timedDeadline(record);
  const times = [deadline, record.pollDueAt].filter((at): at is number => at !== undefined);
  return times.length > 0 ? Math.min(...times) : undefined;
}

/** The deadline when it waits in the timers (a record of the release before: a delayed job). */
function timedDeadline(record: RegistrationRecord): number | undefined {
  return record.deadlineInTimers ? record.deadlineAt : undefined;
}

/**
 * The timer argument of a write (SET_TIMER in store-scripts.ts): '' leaves the timer as it is,
 * '-' removes it, a number sets it.
 */
export function timerArg(before: number | undefined, after: number | undefined): string {
  if (before === after) return '';
  return after === undefined ? '-' : String(after);
}

export type DueJob =
  | { step: 'poll'; jobId: string; data: PollJobData }
  | { step: 'complete'; jobId: string; data: CompleteJobData };

/**
 * What a woken timer must add, from the record as it is now, and when it wakes next (the
 * earliest time still ahead; undefined: not again until a write sets it). The ids are the
 * ones a delayed job had, so an add the sweeper repeats (it crashed before re-scoring the
 * timer) finds the job already there, and a step that runs twice finds its work done.
 */
export function dueJobs(
  record: RegistrationRecord,
  now: number,
): { due: DueJob[]; next: number | undefined } {
  if (wakeAt(record) === undefined) return { due: [], next: undefined };
  const { registrationId } = record;
  const due: DueJob[] = [];
  const later: number[] = [];
  const deadline = timedDeadline(record);
  if (deadline !== undefined && deadline <= now)
    due.push({
      step: 'complete',
      jobId: jobIds.deadline(registrationId, attemptOf(record)),
      data: { registrationId, source: 'worker', timedOut: true, attempt: attemptOf(record) },
    });
  else if (deadline !== undefined) later.push(deadline);
  const pollAt = record.pollDueAt;
  if (pollAt !== undefined && pollAt <= now) {
    const attempt = record.pollAttempts + 1;
    due.push({
      step: 'poll',
      jobId: record.pollJobId ?? jobIds.poll(registrationId, record.generation, attempt),
      data: { registrationId, attempt, generation: record.generation },
    });
  } else if (pollAt !== undefined) later.push(pollAt);
  return { due, next: later.length > 0 ? Math.min(...later) : undefined };
}

/** A due timer: the registration and the score it was read with. */
export interface DueTimer {
  registrationId: string;
  score: string;
}

// Re-score a woken timer only if no write moved it meanwhile (the score is as read): a write
// that set a new time (the poll recorded its attempt) or removed it (the end) wins.
const RESCORE = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '-' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1`;

const RESCORE_SCRIPT = new StoreScript(RESCORE);

/** The timers of one prefix, as the sweeper (queues/timers.ts) reads and re-scores them. */
export class RegistrationTimers {
  private readonly redis: RedisClient;
  readonly key: string;

  constructor(redis: RedisClient, key: string) {
    this.redis = redis;
    this.key = key;
  }

  /** Up to `limit` timers due at `now`, earliest first. */
  async due(now: number, limit: number): Promise<DueTimer[]> {
    const flat = await this.redis.zrangebyscore(
      this.key,
      '-inf',
      String(now),
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const timers: DueTimer[] = [];
    for (let index = 0; index + 1 < flat.length; index += 2)
      timers.push({ registrationId: flat[index] ?? '', score: flat[index + 1] ?? '' });
    return timers;
  }

  /** After waking: the next time (undefined: removed), unless a write moved it meanwhile. */
  async rescore(timer: DueTimer, next: number | undefined): Promise<void> {
    await RESCORE_SCRIPT.run(
      this.redis,
      [this.key],
      [timer.registrationId, timer.score, next === undefined ? '-' : String(next)],
    );
  }

  /** When the registration's timer wakes (undefined: it has none). */
  async of(registrationId: string): Promise<number | undefined> {
    const score = await this.redis.zscore(this.key, registrationId);
    return score === null ? undefined : Number(score);
  }

  /** Gone with the registration (erase). */
  async remove(registrationId: string): Promise<void> {
    await this.redis.zrem(this.key, registrationId);
  }
}
