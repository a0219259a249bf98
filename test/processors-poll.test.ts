import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirm } from '../src/processors/confirm.ts';
import { initiate } from '../src/processors/initiate.ts';
import { poll } from '../src/processors/poll.ts';
import { upload } from '../src/processors/upload.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { stepContext, type StepHarness } from './support/step-context.ts';

/** The poll step on the real client and sandbox, run directly (no worker). */
describe('poll', () => {
  let stack: Stack;
  let harness: StepHarness;
  beforeAll(async () => {
    stack = await startStack({ worker: 'none', sandbox: { callback: undefined } });
    harness = stepContext(stack, { pollIntervalMs: 1_000, pollMaxIntervalMs: 4_000 });
  });
  afterAll(async () => {
    await harness.close();
    await stack.close();
  });

  async function confirmed(scenario: Parameters<typeof person>[0]) {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person(scenario)),
    );
    const data = { registrationId };
    await initiate(data, harness.ctx);
    await upload(data, harness.ctx);
    await confirm(data, harness.ctx);
    return registrationId;
  }

  /** Poll at a fixed `now`, so the next poll's due time is exact. */
  async function pollAt(registrationId: string, attempt: number, now: number) {
    const outcome = await poll({ registrationId, attempt }, { ...harness.ctx, now: () => now });
    const record = await harness.ctx.store.require(registrationId);
    return { outcome, record, timer: await harness.ctx.store.timers.of(registrationId) };
  }

  it('a failing poll schedules the next one instead of failing the registration', async () => {
    const registrationId = await confirmed('stuck');
    stack.sandbox.setFaults({ failNext: { get_submission: 1 } });
    const now = Date.now();
    const { outcome, record, timer } = await pollAt(registrationId, 1, now);
    // The next poll waits in the registration's timer, set by the write that recorded this one.
    expect(outcome.next).toEqual([]);
    expect(record).toMatchObject({
      pollAttempts: 1,
      pollJobId: `${registrationId}-poll-g0-2`,
      pollDueAt: now + 1_000,
    });
    expect(timer).toBe(now + 1_000);
    expect(await harness.metrics.text()).toMatch(/esign_worker_polls_total\{outcome="error"\} 1/);
    expect(record.status).toBe('CONFIRMED');
  });

  it('a poll left from an earlier submission generation does nothing', async () => {
    const registrationId = await confirmed('stuck');
    const before = await harness.ctx.store.require(registrationId);
    const stale = { registrationId, attempt: 1, generation: before.generation + 1 };
    expect(await poll(stale, harness.ctx)).toEqual({ next: [] });
    expect(await harness.ctx.store.require(registrationId)).toEqual(before);
  });

  it('backs off exponentially up to the maximum interval', async () => {
    const registrationId = await confirmed('stuck');
    const delays: number[] = [];
    const now = Date.now();
    for (const attempt of [1, 2, 3, 4]) {
      const { record, timer } = await pollAt(registrationId, attempt, now);
      expect(timer).toBe(record.pollDueAt);
      delays.push((record.pollDueAt ?? 0) - now);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 4_000]);
  });

  it('hands a terminal answer about our submission to complete, and stops polling', async () => {
    const registrationId = await confirmed('completed-direct');
    let outcome = await poll({ registrationId, attempt: 1 }, harness.ctx);
    const ended = () =>
      outcome.next.some((next) => JSON.stringify(next.data).includes('"status":"COMPLETED"'));
    for (let i = 0; i < 100 && !ended(); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      outcome = await poll({ registrationId, attempt: 1 }, harness.ctx);
    }
    expect(outcome.next).toEqual([
      expect.objectContaining({
        step: 'complete',
        data: expect.objectContaining({
          source: 'poll',
          state: expect.objectContaining({ status: 'COMPLETED', result: 'VALID' }) as unknown,
        }) as unknown,
      }),
    ]);
  });

  it('schedules the last poll no later than the give-up, and never sooner than the interval', async () => {
    const registrationId = await confirmed('stuck');
    // 2.5 s of POLL_GIVE_UP_MS (60 s) left, with 4 s between polls by now.
    const now = Date.now() + 57_500;
    const { record } = await pollAt(registrationId, 4, now);
    expect(record.pollDueAt).toBeGreaterThan(now + 2_000);
    expect(record.pollDueAt).toBeLessThanOrEqual(now + 2_500);
    // Under a second left (a pause still open keeps it there, poll after poll): the next one
    // POLL_INTERVAL_MS (1 s) later, not a tight loop.
    const last = Date.now() + 59_400;
    const { record: next } = await pollAt(registrationId, 5, last);
    expect(next.pollDueAt).toBe(last + 1_000);
  });

  it('gives up with TIMED_OUT after POLL_GIVE_UP_MS', async () => {
    const registrationId = await confirmed('stuck');
    const later = { ...harness.ctx, now: () => Date.now() + 61_000 };
    const outcome = await poll({ registrationId, attempt: 7 }, later);
    expect(outcome.next.some((next) => next.step === 'poll')).toBe(false);
    expect(outcome.next).toContainEqual(
      expect.objectContaining({
        step: 'complete',
        data: { registrationId, source: 'poll', timedOut: true, attempt: 1 },
      }),
    );
  });
});
