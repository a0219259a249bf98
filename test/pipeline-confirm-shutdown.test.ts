import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { exitWithin, startCli, waitUntil, type ChildCli } from '../demo/child-process.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * SIGTERM while confirms are on their way: past SHUTDOWN_TIMEOUT_MS the worker (a real
 * `esign-worker worker` child) aborts them and gives the jobs back, but Esign already has the
 * requests and applies them a little later. The worker that takes over must not read the
 * abort as "never arrived": it waits out each claim's lease, then asks Esign, and sends
 * nothing when the first confirm landed.
 *
 * The successor runs in this process, started while the child still holds every confirm (as
 * in a rolling deploy): a child takes seconds to start on a loaded machine, which would race
 * the hold. Timings: the sandbox applies each held confirm 6 s after it arrives; the lease
 * (CONFIRM_LEASE_MS) ends 9 s after the claims.
 */
const HOLD_MS = 6_000;

describe('SIGTERM with confirms in flight, then a restart', () => {
  let stack: Stack;
  let redis: Redis;
  let submissionQueue: Queue;
  let first: ChildCli | undefined;
  let successor: WorkerApp | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
    redis = connect();
    // The submission queue: confirm runs inside its jobs.
    submissionQueue = new Queue('initiate', { connection: redis, prefix: stack.prefix });
    env = {
      ...stack.env,
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      // The confirms stay in flight until the shutdown aborts them.
      ESIGN_REQUEST_TIMEOUT_MS: '30000',
      SHUTDOWN_TIMEOUT_MS: '500',
      CONFIRM_LEASE_MS: '9000',
    };
  });
  afterAll(async () => {
    await first?.kill();
    await successor?.close();
    await submissionQueue.close();
    await redis.quit();
    await stack.close();
  });

  it('no submission is confirmed twice', async () => {
    const held = () => stack.sandbox.inspect().calls.confirm.held ?? 0;
    stack.sandbox.setFaults({ holdNext: { confirm: { count: 4, ms: HOLD_MS } } });
    first = startCli('worker', env);
    await first.waitForLog('worker ready', 30_000);
    const registrations: { registrationId: string; partnerUserId: string }[] = [];
    for (let i = 0; i < 4; i += 1) {
      const request = registrationRequest(person('completed'));
      const { registrationId } = await stack.producer.enqueueRegistration(request);
      registrations.push({ registrationId, partnerUserId: request.partnerUserId });
    }
    await waitUntil(() => held() === 4, {
      timeoutMs: 30_000,
      what: 'four confirms held at the sandbox',
    });
    const heldAt = Date.now();
    // Up before the first one stops; it takes no job while the first holds them all.
    successor = createWorkerApp(
      loadConfig(env, ['common', 'esign', 'pipeline', 'pii']),
      silentLogger(),
      new Metrics({ defaultMetrics: false }),
    );

    first.process.kill('SIGTERM');
    expect(await exitWithin(first, 5_000, 'SIGTERM with confirms in flight')).toEqual({
      code: 0,
      signal: null,
    });
    // Cut, not drained: the confirms were aborted and their jobs given back (its last lines
    // may still be on their way through the pipe when the exit is seen)...
    const child = first;
    const givenBack = () => child.lines.filter((line) => line.includes('"job given back"')).length;
    await waitUntil(() => givenBack() === 4, { timeoutMs: 2_000, what: 'four jobs given back' });
    expect(first.lines.join('\n')).toContain('shutdown timeout');
    // ...while Esign still holds them (else this run would not test the race): what the
    // successor finds at Esign is still INITIATED.
    expect(Date.now(), 'the hold lapsed before the jobs were given back').toBeLessThan(
      heldAt + HOLD_MS - 1_000,
    );

    for (const { registrationId } of registrations) {
      const result = await stack.waitForResult(registrationId, 30_000);
      expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    }
    // Every held confirm has been applied, and every submission job has run out (those waiting
    // for their lease to end included): only now would a second confirm have shown.
    await waitUntil(
      async () => {
        if (Date.now() < heldAt + HOLD_MS) return false;
        const counts = await submissionQueue.getJobCounts('active', 'waiting', 'delayed');
        return Object.values(counts).every((count) => count === 0);
      },
      { timeoutMs: 20_000, what: 'the submission jobs to run out', everyMs: 100 },
    );
    const users = new Set(registrations.map((r) => r.partnerUserId));
    const ours = stack.sandbox.inspect().submissions.filter((s) => users.has(s.userId));
    expect(ours.map((s) => s.confirmCount)).toEqual([1, 1, 1, 1]);
    // Nothing was sent again: the four held confirms are the only confirms Esign saw.
    expect(stack.sandbox.inspect().calls.confirm).toEqual({ held: 4 });
  }, 90_000);
});
