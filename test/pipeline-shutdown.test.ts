import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stepNames } from '../src/lib/registration/jobs.ts';
import { exitWithin, waitUntil, type ChildCli } from '../demo/child-process.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { callbackSecret, startStack, type Stack } from './support/stack.ts';

/**
 * SIGTERM is how every orchestrator stops a process: the worker must stop taking jobs, let
 * the active ones finish (or give them back) within SHUTDOWN_TIMEOUT_MS, and exit 0, leaving
 * no job stuck `active` under a lock nobody renews.
 */
describe('SIGTERM', () => {
  let stack: Stack;
  let redis: Redis;
  let queues: Queue[];
  const children: ChildCli[] = [];

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
    redis = connect();
    queues = stepNames.map((name) => new Queue(name, { connection: redis, prefix: stack.prefix }));
  });
  afterEach(async () => {
    stack.sandbox.setFaults({ latencyMs: 0 });
    await Promise.all(children.splice(0).map((child) => child.kill()));
  });
  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    await redis.quit();
    await stack.close();
  });

  function start(command: 'worker' | 'start', env: Record<string, string> = {}): ChildCli {
    const child = stack.startProcess(command, {
      LOG_LEVEL: 'info',
      ESIGN_REQUEST_TIMEOUT_MS: '30000',
      // A confirm cut by the shutdown may still reach Esign: the fresh worker waits out its
      // lease before asking Esign and sending. By default that is connect + 2 × request
      // timeout (65 s here); these confirms never reach Esign, so a short one will do.
      CONFIRM_LEASE_MS: '2000',
      LOCK_DURATION_MS: '2000',
      STALLED_INTERVAL_MS: '500',
      ...env,
    });
    children.push(child);
    return child;
  }

  async function activeJobs(): Promise<number> {
    const counts = await Promise.all(queues.map((queue) => queue.getActiveCount()));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** A fresh worker takes over; every registration ends VALID with one confirm at Esign. */
  async function finishedByAFreshWorker(
    registrations: { registrationId: string; partnerUserId: string }[],
  ): Promise<void> {
    const fresh = start('worker');
    for (const { registrationId, partnerUserId } of registrations) {
      const result = await stack.waitForResult(registrationId, 30_000);
      expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
      const submissions = stack.sandbox
        .inspect()
        .submissions.filter((s) => s.userId === partnerUserId);
      expect(submissions.map((s) => s.confirmCount)).toEqual([1]);
    }
    // Stopped the same way, so the next test starts with no job held by a dead process.
    fresh.process.kill('SIGTERM');
    expect(await exitWithin(fresh, 10_000, 'SIGTERM on the fresh worker')).toEqual({
      code: 0,
      signal: null,
    });
  }

  async function enqueue(count: number) {
    const registrations: { registrationId: string; partnerUserId: string }[] = [];
    for (let i = 0; i < count; i += 1) {
      const request = registrationRequest(person('completed'));
      const { registrationId } = await stack.producer.enqueueRegistration(request);
      registrations.push({ registrationId, partnerUserId: request.partnerUserId });
    }
    return registrations;
  }

  it('with jobs in flight: they finish, the worker exits 0 in time, none is left active', async () => {
    const shutdownMs = 5_000;
    // Every Esign call takes a while, so jobs are active when the signal comes.
    stack.sandbox.setFaults({ latencyMs: 1_000 });
    const worker = start('worker', { SHUTDOWN_TIMEOUT_MS: String(shutdownMs) });
    await worker.waitForLog('worker ready');
    const registrations = await enqueue(4);
    await waitUntil(async () => (await activeJobs()) >= 2, {
      timeoutMs: 15_000,
      what: 'two active jobs',
    });

    worker.process.kill('SIGTERM');
    // Start-up and teardown of connections on top of the drain itself.
    const exit = await exitWithin(worker, shutdownMs + 3_000, 'SIGTERM with jobs in flight');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await activeJobs()).toBe(0);
    // Drained, not cut: nothing was given up by the timeout.
    expect(worker.lines.join('\n')).not.toContain('shutdown timeout');

    stack.sandbox.setFaults({ latencyMs: 0 });
    await finishedByAFreshWorker(registrations);
  }, 60_000);

  it('with a job stuck on a call that never returns: exits 0 by SHUTDOWN_TIMEOUT_MS, job given back', async () => {
    const shutdownMs = 1_500;
    const hungBefore = stack.sandbox.inspect().calls.confirm.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { confirm: 1 } });
    const worker = start('worker', { SHUTDOWN_TIMEOUT_MS: String(shutdownMs) });
    const registrations = await enqueue(1);
    await waitUntil(() => (stack.sandbox.inspect().calls.confirm.hang ?? 0) > hungBefore, {
      timeoutMs: 15_000,
      what: 'the confirm to hang at the sandbox',
    });

    worker.process.kill('SIGTERM');
    const exit = await exitWithin(worker, shutdownMs + 3_000, 'SIGTERM with a hung call');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await activeJobs()).toBe(0);
    // Given back as it was: waiting for the next worker, no attempt used, not failed.
    // The submission job (confirm runs in it) is the one given back.
    const submissionQueue = queues[stepNames.indexOf('initiate')] as Queue;
    const [given] = await submissionQueue.getWaiting();
    expect(given?.data).toEqual({ v: 1, registrationId: registrations[0]?.registrationId });
    expect(given?.attemptsMade).toBe(0);
    expect(await submissionQueue.getFailedCount()).toBe(0);

    await finishedByAFreshWorker(registrations);
  }, 60_000);

  it('start: the listener stops taking callbacks first, while the worker still drains', async () => {
    const shutdownMs = 4_000;
    const hungBefore = stack.sandbox.inspect().calls.confirm.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { confirm: 1 } });
    const service = start('start', { SHUTDOWN_TIMEOUT_MS: String(shutdownMs) });
    const ready = await service.waitForLog('listener ready');
    const callbackUrl = `${String(ready.url)}${String(ready.path)}`;
    const postCallback = () =>
      fetch(callbackUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${callbackSecret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ submissionId: randomUUID(), status: 'COMPLETED', result: 'VALID' }),
      });
    expect((await postCallback()).status).toBe(200);

    const registrations = await enqueue(1);
    await waitUntil(() => (stack.sandbox.inspect().calls.confirm.hang ?? 0) > hungBefore, {
      timeoutMs: 15_000,
      what: 'the confirm to hang at the sandbox',
    });

    service.process.kill('SIGTERM');
    await waitUntil(
      () =>
        postCallback().then(
          () => false,
          () => true, // connection refused: the listener is closed
        ),
      { timeoutMs: shutdownMs, what: 'the callback port to refuse connections' },
    );
    // The hung confirm keeps the worker draining until SHUTDOWN_TIMEOUT_MS: still running.
    expect(service.alive()).toBe(true);
    const exit = await exitWithin(service, shutdownMs + 3_000, 'SIGTERM on start');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await activeJobs()).toBe(0);

    await finishedByAFreshWorker(registrations);
  }, 60_000);
});
