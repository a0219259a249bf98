import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../src/app/runtime.ts';
import { loadConfig } from '../src/lib/config.ts';
import type { SubmissionState } from '../src/lib/esign/schemas.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { readJobData } from '../src/lib/registration/format.ts';
import { jobIds } from '../src/lib/registration/jobs.ts';
import { createCallbackSink } from '../src/queues/callback-sink.ts';
import { queuedRecord } from './support/records.ts';
import { indexedCompletionSupported } from '../src/queues/completion-add.ts';
import { cleanPrefix, connect, keysUnder, topologyEnv, uniquePrefix } from './support/redis.ts';

/**
 * The Redis-backed sink on its own (the listener is tested with a fake one, and the two
 * together in pipeline-callbacks.test.ts): the `complete` job comes from one script that
 * looks the submission up and runs BullMQ's add, so it must be exactly what Queue.add makes.
 */
describe('callback sink (one round trip)', () => {
  let runtime: Runtime;
  let prefix: string;
  const redis = connect();
  beforeAll(() => {
    prefix = uniquePrefix('sink');
    const config = loadConfig({ ...topologyEnv(), QUEUE_PREFIX: prefix }, ['common', 'pipeline']);
    runtime = createRuntime(config, { connection: { name: 'test-sink' }, logger: silentLogger() });
  });
  afterAll(async () => {
    const partition = runtime.all[0]!;
    await cleanPrefix(redis, partition.prefix);
    await runtime.close();
  });

  const state = (submissionId: string, status: SubmissionState['status'] = 'COMPLETED') =>
    ({ submissionId, status, result: 'VALID', reasonCode: null }) as SubmissionState;

  it('takes callbacks in one round trip with the BullMQ this release is locked to', () => {
    // Otherwise the sink quietly adds in steps (still correct, three round trips).
    expect(indexedCompletionSupported()).toBe(true);
  });

  it('adds nothing at all for a submission no registration has', async () => {
    const sink = createCallbackSink(runtime);
    const partition = runtime.all[0]!;
    const queue = partition.queues.steps.complete;
    expect(await sink.accept(state(randomUUID()))).toBe('unknown');
    // No job, list or event, not even the id counter BullMQ's add increments: the script
    // stops before it. (The queue's meta hash is the Queue object's own, written on open.)
    const keys = await keysUnder(redis, queue.toKey(''));
    expect(keys.filter((key) => key !== queue.toKey('meta'))).toEqual([]);
  });

  it('adds the job Queue.add would add, with the registration id filled in by Redis', async () => {
    const sink = createCallbackSink(runtime);
    const partition = runtime.all[0]!;
    const queue = partition.queues.steps.complete;
    // An id JSON and Lua both have to quote, to show the payload is built correctly.
    const registrationId = `reg-"quoted"/\\-${randomUUID()}`;
    const submissionId = randomUUID();
    await partition.store.submissions.add(submissionId, registrationId);
    const callback = state(submissionId, 'COMPLETED');

    expect(await sink.accept(callback)).toBe('accepted');
    const job = await queue.getJob(jobIds.completion(callback));
    expect(job).toBeDefined();
    expect(readJobData<'complete'>(job!.data)).toEqual({
      registrationId,
      source: 'callback',
      state: callback,
      v: 1,
    });
    expect(job!.name).toBe('complete');
    expect(await job!.getState()).toBe('waiting');
    // The same options as a Queue.add of the same job under the queue's defaults.
    const reference = await queue.add('complete', { registrationId }, { jobId: randomUUID() });
    const stored = await queue.getJob(reference.id!);
    expect(job!.opts).toEqual({ ...stored!.opts, jobId: job!.id });
    await stored!.remove();
  });

  it('tells a duplicate by the same script, and keeps one job', async () => {
    const sink = createCallbackSink(runtime);
    const partition = runtime.all[0]!;
    const queue: Queue = partition.queues.steps.complete;
    const submissionId = randomUUID();
    await partition.store.submissions.add(submissionId, `reg-${randomUUID()}`);
    const waitingBefore = await queue.getWaitingCount();
    expect(await sink.accept(state(submissionId))).toBe('accepted');
    expect(await sink.accept(state(submissionId))).toBe('duplicate');
    // Another status or result of the same submission is another completion.
    expect(await sink.accept({ ...state(submissionId), result: 'INVALID' })).toBe('accepted');
    expect(await queue.getWaitingCount()).toBe(waitingBefore + 2);
    expect(indexedCompletionSupported()).toBe(true);
  });

  it('writes progress to the record, queues no job for it, and ignores a replaced submission', async () => {
    const sink = createCallbackSink(runtime);
    const partition = runtime.all[0]!;
    const { store } = partition;
    const registrationId = `reg-${randomUUID()}`;
    const [submissionId, replaced] = [randomUUID(), randomUUID()];
    const at = Date.now();
    const uploaded = { url: '', reference: '', expiresAt: 0, uploadedAt: at };
    await store.create(
      queuedRecord(at, {
        registrationId,
        partnerUserId: `user-${randomUUID()}`,
        version: 0,
        status: 'CONFIRMED',
        confirmedAt: at,
        previousSubmissionIds: [replaced],
        submission: { submissionId, createdAt: at, documents: { KTP: uploaded, SELFIE: uploaded } },
      }),
    );
    await store.submissions.add(submissionId, registrationId);
    await store.submissions.add(replaced, registrationId);
    const progress = state(submissionId, 'PARTIALLY_COMPLETED');

    expect(await sink.accept(progress)).toBe('accepted');
    expect(await store.require(registrationId)).toMatchObject({
      status: 'PARTIALLY_COMPLETED',
      lastState: progress,
      version: 1,
    });
    expect(
      await partition.queues.steps.complete.getJob(jobIds.completion(progress)),
    ).toBeUndefined();
    // Esign's retry of it, and a report of an earlier status: nothing written.
    expect(await sink.accept(progress)).toBe('duplicate');
    expect(await sink.accept(state(submissionId, 'IN_PROGRESS'))).toBe('duplicate');
    // About the submission this registration replaced: taken, and nothing changes.
    expect(await sink.accept(state(replaced, 'PARTIALLY_COMPLETED'))).toBe('accepted');
    expect(await store.require(registrationId)).toMatchObject({ version: 1 });
    // Nobody's submission: unknown, as for a final report.
    expect(await sink.accept(state(randomUUID(), 'PARTIALLY_COMPLETED'))).toBe('unknown');
  });
});
