import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealth } from '../src/app/health.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { dueJobs, timerArg, timersKey, wakeAt } from '../src/lib/registration/timers.ts';
import { endRegistration } from '../src/lib/registration/transitions.ts';
import { createQueues, type PipelineQueues } from '../src/queues/queues.ts';
import { wakeDueTimers } from '../src/queues/timers.ts';
import { queuedRecord } from './support/records.ts';
import { cleanPrefix, connect, topologyEnv, uniquePrefix } from './support/redis.ts';

/**
 * The registration timers (lib/registration/timers.ts, queues/timers.ts): the fallback poll and
 * the deadline wait in one sorted set that the record's own writes keep in step, and the sweeper
 * turns the due ones into the jobs a delayed job used to be, under the same ids.
 */
const T0 = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;

const confirmedRecord = (overrides: Partial<RegistrationRecord> = {}): RegistrationRecord =>
  queuedRecord(T0, {
    status: 'CONFIRMED',
    confirmedAt: T0 + 10,
    deadlineAt: T0 + HOUR,
    deadlineInTimers: true,
    pollJobId: 'reg-1-poll-g0-1',
    pollDueAt: T0 + 60_000,
    ...overrides,
  });

describe('when a registration wakes', () => {
  it('is the earlier of its pending poll and its deadline, and never once ended', () => {
    expect(wakeAt(confirmedRecord())).toBe(T0 + 60_000);
    expect(wakeAt(confirmedRecord({ deadlineAt: T0 + 30_000 }))).toBe(T0 + 30_000);
    expect(wakeAt(queuedRecord(T0, { deadlineAt: T0 + HOUR, deadlineInTimers: true }))).toBe(
      T0 + HOUR,
    );
    const ended = endRegistration(confirmedRecord(), { status: 'FAILED', source: 'worker' }, T0);
    expect(wakeAt(ended)).toBeUndefined();
  });

  it('leaves out a deadline that is a delayed job of the release before', () => {
    expect(wakeAt(queuedRecord(T0, { deadlineAt: T0 + HOUR }))).toBeUndefined();
    expect(wakeAt(confirmedRecord({ deadlineInTimers: undefined, deadlineAt: T0 }))).toBe(
      T0 + 60_000,
    );
  });

  it('says what is due, under the ids the delayed jobs had, and when it wakes next', () => {
    const record = confirmedRecord({ pollAttempts: 2, pollJobId: 'reg-1-poll-g0-3' });
    expect(dueJobs(record, T0 + 59_999)).toEqual({ due: [], next: T0 + 60_000 });
    expect(dueJobs(record, T0 + 60_000)).toEqual({
      due: [
        {
          step: 'poll',
          jobId: 'reg-1-poll-g0-3',
          data: { registrationId: 'reg-1', attempt: 3, generation: 0 },
        },
      ],
      next: T0 + HOUR,
    });
    expect(dueJobs(record, T0 + HOUR)).toEqual({
      due: [
        {
          step: 'complete',
          jobId: 'reg-1-deadline-a1',
          data: { registrationId: 'reg-1', source: 'worker', timedOut: true, attempt: 1 },
        },
        {
          step: 'poll',
          jobId: 'reg-1-poll-g0-3',
          data: { registrationId: 'reg-1', attempt: 3, generation: 0 },
        },
      ],
      next: undefined,
    });
    expect(timerArg(1, 1)).toBe('');
    expect(timerArg(1, undefined)).toBe('-');
    expect(timerArg(undefined, 5)).toBe('5');
  });
});

describe('the timers in Redis', () => {
  const redis = connect();
  const prefix = uniquePrefix('timers');
  const key = timersKey(prefix);
  let clock = T0;
  const store = new RegistrationStore({ redis, prefix, retentionMs: HOUR, now: () => clock });
  let queues: PipelineQueues;
  let serial = 0;
  const sweep = () =>
    wakeDueTimers({
      store,
      queues: queues.steps,
      intervalMs: 50,
      now: () => clock,
      logger: silentLogger(),
    });

  beforeAll(() => {
    queues = createQueues(redis, prefix, { attempts: 1, backoffMs: 100 });
  });
  afterAll(async () => {
    await queues.close();
    await cleanPrefix(redis, prefix);
    redis.disconnect();
  });

  async function created(): Promise<string> {
    serial += 1;
    const registrationId = `reg-${serial}`;
    const record = queuedRecord(clock, {
      registrationId,
      partnerUserId: `user-${serial}`,
      version: 0,
      deadlineAt: clock + HOUR,
      deadlineInTimers: true,
    });
    expect(await store.create(record)).toEqual({ kind: 'created' });
    return registrationId;
  }

  /** Confirmed now, its first poll due in a minute. */
  const confirmNow = (id: string) =>
    store.update(id, (record) => ({
      ...record,
      status: 'CONFIRMED',
      confirmedAt: clock,
      pollJobId: `${id}-poll-g0-1`,
      pollDueAt: clock + 60_000,
    }));

  const score = async (id: string) => {
    const value = await redis.zscore(key, id);
    return value === null ? undefined : Number(value);
  };

  it('move with the record: set by create, the confirm and the poll, gone with the end', async () => {
    const id = await created();
    expect(await score(id)).toBe(T0 + HOUR);
    await confirmNow(id);
    expect(await score(id)).toBe(T0 + 60_000);
    await store.update(id, (record) => ({ ...record, pollAttempts: 1, pollDueAt: clock + 90_000 }));
    expect(await score(id)).toBe(T0 + 90_000);
    await store.update(id, (record) =>
      endRegistration(record, { status: 'FAILED', source: 'worker' }, clock),
    );
    expect(await score(id)).toBeUndefined();
  });

  it('wake into the jobs that are due, once, and move to the next time', async () => {
    const id = await created();
    await confirmNow(id);
    expect(await sweep()).toBe(0);
    clock = T0 + 60_000;
    expect(await sweep()).toBe(1);
    const poll = await queues.steps.poll.getJob(`${id}-poll-g0-1`);
    expect(poll?.data).toMatchObject({ registrationId: id, attempt: 1 });
    expect(await poll?.getState()).toBe('waiting');
    expect(await score(id)).toBe(T0 + HOUR); // the deadline is next
    expect(await sweep()).toBe(0);

    // A sweeper that died before re-scoring: the next one adds the same id, one job.
    await redis.zadd(key, clock, id);
    expect(await sweep()).toBe(1);
    expect(await queues.steps.poll.getJobCountByTypes('waiting')).toBe(1);

    clock = T0 + HOUR;
    expect(await sweep()).toBe(2); // the deadline and the still overdue poll
    const deadline = await queues.steps.complete.getJob(`${id}-deadline-a1`);
    expect(deadline?.data).toMatchObject({ registrationId: id, timedOut: true });
    expect(await score(id)).toBeUndefined();
    await queues.steps.poll.drain();
    await queues.steps.complete.drain();
  });

  it('leave a timer a write moved meanwhile as the write set it', async () => {
    clock = T0;
    const id = await created();
    const [timer] = await store.timers.due(T0 + 2 * HOUR, 100);
    expect(timer).toEqual({ registrationId: id, score: String(T0 + HOUR) });
    await store.update(id, (record) => ({ ...record, deadlineAt: T0 + 3 * HOUR }));
    await store.timers.rescore(timer!, undefined);
    expect(await score(id)).toBe(T0 + 3 * HOUR);
  });

  it('drop the timer of a record that is gone or ended, adding nothing', async () => {
    clock = T0;
    const gone = await created();
    const ended = await created();
    await redis.del(`${prefix}:registration:${gone}`);
    // An end written by a release without timers leaves the timer behind.
    const record = await store.require(ended);
    await redis.set(
      `${prefix}:registration:${ended}`,
      JSON.stringify(endRegistration(record, { status: 'FAILED', source: 'worker' }, T0)),
    );
    clock = T0 + 2 * HOUR;
    await redis.zremrangebyscore(key, '-inf', '+inf');
    await redis.zadd(key, T0, gone, T0, ended);
    expect(await sweep()).toBe(0);
    expect(await redis.zcard(key)).toBe(0);
  });

  it('put off a timer whose record cannot be read, and wake the ones behind it', async () => {
    clock = T0;
    const damaged = await created();
    const sound = await created();
    await redis.set(`${prefix}:registration:${damaged}`, '{"formatVersion":99}');
    clock = T0 + 2 * HOUR;
    expect(await sweep()).toBe(1); // the sound one's deadline
    expect(await queues.steps.complete.getJob(`${sound}-deadline-a1`)).toBeDefined();
    expect(await score(damaged)).toBe(clock + 5 * 60_000);
    expect(await score(sound)).toBeUndefined();
    await queues.steps.complete.drain();
  });

  it('are counted at scrape time: waiting, and due but not woken yet', async () => {
    const label = uniquePrefix('timer-gauge');
    const config = loadConfig({ ...topologyEnv(), QUEUE_PREFIX: label }, ['common']);
    const metrics = new Metrics({ defaultMetrics: false });
    const health = createHealth(config, { logger: silentLogger(), metrics, name: 'test-timers' });
    const key = timersKey(config.common.partitionPrefixes[0]!);
    const now = Date.now();
    await redis.zadd(key, now - 1_000, 'due', now + 60_000, 'later', now + 120_000, 'last');
    try {
      const text = await metrics.text();
      expect(text).toContain('esign_worker_registration_timers{state="pending"} 2');
      expect(text).toContain('esign_worker_registration_timers{state="due"} 1');
    } finally {
      await health.close();
      await redis.del(key);
    }
  });
});
