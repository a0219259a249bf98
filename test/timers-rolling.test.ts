import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../demo/child-process.ts';
import { writeJobData } from '../src/lib/registration/format.ts';
import { jobIds } from '../src/lib/registration/jobs.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { timersKey } from '../src/lib/registration/timers.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Registrations the release before confirmed, whose fallback poll and deadline are delayed
 * jobs and which have no timer, finish on this release: the delayed poll still runs, and
 * ending the registration removes the delayed deadline job, as that release did.
 */
describe('the registration timers during a rolling deploy', () => {
  let stack: Stack;
  let redis: Redis;
  let poll: Queue;
  let complete: Queue;
  beforeAll(async () => {
    // No callbacks: only a poll can end these registrations.
    stack = await startStack({ sandbox: { callback: undefined } });
    redis = connect();
    poll = new Queue('poll', { connection: redis, prefix: stack.prefix });
    complete = new Queue('complete', { connection: redis, prefix: stack.prefix });
  });
  afterAll(async () => {
    await poll.close();
    await complete.close();
    await stack.close();
    await redis.quit();
  });

  it('a registration with delayed poll and deadline jobs and no timer ends, its jobs gone', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const store = new RegistrationStore({ redis, prefix: stack.prefix, retentionMs: 60_000 });
    await waitUntil(async () => (await store.get(registrationId))?.status === 'CONFIRMED', {
      timeoutMs: 20_000,
      what: 'the registration confirmed',
    });

    // Now as the release before left it: no timer fields (so no timer), delayed jobs instead.
    const record = await store.update(registrationId, (current) => ({
      ...current,
      pollDueAt: undefined,
      deadlineInTimers: undefined,
    }));
    expect(await redis.zscore(timersKey(stack.prefix), registrationId)).toBeNull();
    const pollJobId = record.pollJobId ?? '';
    const deadlineJobId = jobIds.deadline(registrationId, 1);
    await poll.add('poll', writeJobData({ registrationId, attempt: 1 }), {
      jobId: pollJobId,
      delay: 3_600_000,
    });
    await complete.add(
      'complete',
      writeJobData({ registrationId, source: 'worker', timedOut: true }),
      { jobId: deadlineJobId, delay: 3_600_000 },
    );

    // Its delayed poll falls due: it runs here, finds the submission COMPLETED and ends it.
    await (await poll.getJob(pollJobId))?.promote();
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'COMPLETED', source: 'poll' });
    await waitUntil(async () => (await complete.getJob(deadlineJobId)) === undefined, {
      timeoutMs: 10_000,
      what: 'the delayed deadline job removed',
    });
    expect(await redis.zscore(timersKey(stack.prefix), registrationId)).toBeNull();
  });
});
