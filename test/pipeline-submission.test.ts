import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { writeJobData } from '../src/lib/registration/format.ts';
import { jobIds } from '../src/lib/registration/jobs.ts';
import { retryable } from '../src/lib/errors.ts';
import { endRegistration } from '../src/lib/registration/transitions.ts';
import { initiate } from '../src/processors/initiate.ts';
import { submit, type StepGate } from '../src/processors/submit.ts';
import { upload } from '../src/processors/upload.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { stepContext, type StepHarness } from './support/step-context.ts';

/**
 * The submission phase is one job (processors/submit.ts): one `initiate` job takes a
 * registration from QUEUED to CONFIRMED, each step checkpointed in the record. An `upload` or
 * `confirm` job left by the release before (which made a job per step) is still run to the
 * end by the same processor after a deploy, so nothing in flight is stranded.
 */
describe('the submission as one job', () => {
  let stack: Stack;
  let harness: StepHarness;
  let redis: Redis;
  let queues: Record<'initiate' | 'upload' | 'confirm', Queue>;
  let worker: WorkerApp | undefined;
  let metrics: Metrics;

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
    harness = stepContext(stack);
    redis = connect();
    const open = (name: string) => new Queue(name, { connection: redis, prefix: stack.prefix });
    queues = { initiate: open('initiate'), upload: open('upload'), confirm: open('confirm') };
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });
  afterAll(async () => {
    await Promise.all(Object.values(queues).map((queue) => queue.close()));
    await redis.quit();
    await harness.close();
    await stack.close();
  });

  const startWorker = async () => {
    metrics = new Metrics({ defaultMetrics: false });
    const config = loadConfig(stack.env, ['common', 'esign', 'pipeline', 'pii']);
    worker = createWorkerApp(config, silentLogger(), metrics);
    await worker.untilReady();
  };
  /** A counter's sum over the matching series, or a histogram's observation count. */
  const counted = async (name: string, labels: Record<string, string>) => {
    const metric = await metrics.registry.getSingleMetric(name)?.get();
    const matches = (metric?.values ?? []).filter(
      (value) =>
        [undefined, name, `${name}_count`].includes(
          (value as { metricName?: string }).metricName,
        ) && Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted),
    );
    return matches.reduce((sum, value) => sum + value.value, 0);
  };
  const confirmsOf = (partnerUserId: string) =>
    stack.sandbox
      .inspect()
      .submissions.filter((s) => s.userId === partnerUserId)
      .map((s) => s.confirmCount);
  const jobStates = (registrationId: string) =>
    Promise.all(
      (['initiate', 'upload', 'confirm'] as const).map(async (step) => [
        step,
        await queues[step].getJobState(jobIds.step(step, registrationId, 0)),
      ]),
    );

  it('drives a registration from QUEUED to CONFIRMED in a single job', async () => {
    await startWorker();
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const result = await stack.waitForResult(registrationId, 30_000);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });

    // Completed step jobs are removed at once: none is left on any of the three queues, and
    // the job counts below say one ran, on the submission queue.
    expect(await jobStates(registrationId)).toEqual([
      ['initiate', 'unknown'],
      ['upload', 'unknown'],
      ['confirm', 'unknown'],
    ]);
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.history.map((entry) => entry.status).slice(0, 4)).toEqual([
      'QUEUED',
      'INITIATED',
      'UPLOADED',
      'CONFIRMED',
    ]);
    expect(confirmsOf(request.partnerUserId)).toEqual([1]);
    // Each Esign step is still timed on its own, inside the one job.
    for (const step of ['initiate', 'upload', 'confirm'])
      expect(await counted('esign_worker_step_duration_seconds', { step }), step).toBe(1);
    expect(await counted('esign_worker_jobs_total', { queue: 'initiate' })).toBe(1);
    expect(await counted('esign_worker_jobs_total', { queue: 'upload' })).toBe(0);
    expect(await counted('esign_worker_jobs_total', { queue: 'confirm' })).toBe(0);
  });

  /** A registration as the previous release left it: its `step` job next, the ones before done. */
  const leftByPreviousRelease = async (step: 'upload' | 'confirm') => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    // The previous release's initiate (and upload) jobs ran; their work is in the record.
    await initiate(data, harness.ctx);
    if (step === 'confirm') await upload(data, harness.ctx);
    expect(await queues.initiate.remove(jobIds.step('initiate', registrationId, 0))).toBe(1);
    const jobId = jobIds.step(step, registrationId, 0);
    await queues[step].add(step, writeJobData(data), { jobId, attempts: 3 });
    return { registrationId, request, jobId };
  };

  for (const step of ['upload', 'confirm'] as const)
    it(`runs a leftover ${step} job from the previous layout to the end`, async () => {
      const { registrationId, request, jobId } = await leftByPreviousRelease(step);
      await startWorker();
      const result = await stack.waitForResult(registrationId, 30_000);
      expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
      expect(await queues[step].getJobState(jobId)).toBe('completed');
      expect(confirmsOf(request.partnerUserId)).toEqual([1]);
      // It went on in the same job: no submission job was added for it.
      expect(await queues.initiate.getJobState(jobIds.step('initiate', registrationId, 0))).toBe(
        'unknown',
      );
      expect(await counted('esign_worker_step_duration_seconds', { step: 'confirm' })).toBe(1);
      expect(await counted('esign_worker_step_duration_seconds', { step: 'initiate' })).toBe(0);
    });

  it('stops between steps while draining, and the next run resumes where the record is', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    const ran: string[] = [];
    // As the adapter's gate, the confirm step as if it had waited for its slot (it reads the
    // record itself then); the others start from the record handed on.
    const gate: StepGate = (step, run) => {
      ran.push(step);
      return run(step === 'confirm');
    };
    const uploads = () => stack.sandbox.inspect().calls.upload['200'] ?? 0;
    const uploadsBefore = uploads();

    // A worker shutting down: the step under way finishes, the next is not started.
    const stopped = await submit(data, { ...harness.ctx, draining: () => true }, gate);
    expect(stopped.next).toEqual([]);
    expect(stopped.waitUntil).toBeTypeOf('number');
    expect(ran).toEqual(['initiate']);
    expect((await stack.producer.getRegistration(registrationId))?.status).toBe('INITIATED');
    expect(uploads()).toBe(uploadsBefore);

    // The job taken up again: from upload, not from the start; then the fallback poll waits
    // in the registration's timer, set by the confirmation.
    const finished = await submit(data, harness.ctx, gate);
    expect(ran).toEqual(['initiate', 'upload', 'confirm']);
    expect(finished.next).toEqual([]);
    const { pollDueAt } = await harness.ctx.store.require(registrationId);
    expect(await harness.ctx.store.timers.of(registrationId)).toBe(pollDueAt);
    expect(uploads() - uploadsBefore).toBe(2);
    expect(confirmsOf(request.partnerUserId)).toEqual([1]);
  });

  // Last: it leaves a registration at UPLOADED with no job, which a worker started later would
  // re-drive.
  it('marks both uploads in one write, or the first alone when the second fails', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    await initiate(data, harness.ctx);
    // Storage fails the second upload once (a 503): the first is marked before the error.
    const esign = harness.ctx.esign;
    let sent = 0;
    const flaky = Object.create(esign) as typeof esign;
    flaky.uploadDocument = (...args) => {
      sent += 1;
      if (sent === 2)
        return Promise.reject(retryable('ESIGN_SERVER_ERROR', 'storage answered 503'));
      return esign.uploadDocument(...args);
    };
    await expect(upload(data, { ...harness.ctx, esign: flaky })).rejects.toThrow('503');
    const failed = await harness.ctx.store.require(registrationId);
    expect(failed.status).toBe('INITIATED');
    expect(failed.submission?.documents.KTP.uploadedAt).toBeTypeOf('number');
    expect(failed.submission?.documents.SELFIE.uploadedAt).toBeUndefined();

    // The retry sends the second only, and reaches UPLOADED in one write.
    const version = failed.version;
    await upload(data, { ...harness.ctx, esign: flaky });
    expect(sent).toBe(3);
    const done = await harness.ctx.store.require(registrationId);
    expect(done).toMatchObject({ status: 'UPLOADED', version: version + 1 });
  });

  it('leaves a registration that ended while its submission was created without one', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    // Its deadline ends it while Esign creates the submission.
    const esign = harness.ctx.esign;
    const racing = Object.create(esign) as typeof esign;
    racing.createSubmission = async (...args) => {
      const answer = await esign.createSubmission(...args);
      await harness.ctx.store.update(registrationId, (current) =>
        endRegistration(current, { status: 'TIMED_OUT', source: 'worker' }, Date.now()),
      );
      return answer;
    };
    const published: unknown[] = [];
    const ctx = {
      ...harness.ctx,
      esign: racing,
      publishResult: (result: unknown) => Promise.resolve(void published.push(result)),
    };
    expect(await initiate({ registrationId }, ctx)).toEqual({ next: [] });
    const ended = await harness.ctx.store.require(registrationId);
    expect(ended.status).toBe('TIMED_OUT');
    expect(ended.submission).toBeUndefined();
    expect(published).toEqual([expect.objectContaining({ status: 'TIMED_OUT' })]);
  });
});
