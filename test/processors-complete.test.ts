import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubmissionState } from '../src/lib/esign/schemas.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { complete } from '../src/processors/complete.ts';
import { confirm } from '../src/processors/confirm.ts';
import type { StepContext } from '../src/processors/context.ts';
import { initiate } from '../src/processors/initiate.ts';
import { upload } from '../src/processors/upload.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { stepContext, type StepHarness } from './support/step-context.ts';

/**
 * The complete step on the real store, run directly (no worker, no callbacks from the
 * sandbox): a report the record has already outgrown is dropped on the record just read,
 * and one about an ended, published registration does nothing else at all.
 */
describe('complete', () => {
  let stack: Stack;
  let harness: StepHarness;
  beforeAll(async () => {
    stack = await startStack({ worker: 'none', sandbox: { callback: undefined } });
    harness = stepContext(stack);
  });
  afterAll(async () => {
    await harness.close();
    await stack.close();
  });

  /** The step context, with what it is asked to do beyond reading the record written down. */
  function observed() {
    const calls: string[] = [];
    const published: RegistrationResult[] = [];
    const { store } = harness.ctx;
    const ctx: StepContext = {
      ...harness.ctx,
      store: new Proxy(store, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (property !== 'get' && property !== 'require')
              calls.push(`store.${String(property)}`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }),
      publishResult: (result) => {
        calls.push('publishResult');
        published.push(result);
        return Promise.resolve();
      },
      cancelJob: (step) => {
        calls.push(`cancelJob:${step}`);
        return Promise.resolve();
      },
    };
    return { ctx, calls, published };
  }

  async function confirmed() {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('stuck')),
    );
    const data = { registrationId };
    await initiate(data, harness.ctx);
    await upload(data, harness.ctx);
    await confirm(data, harness.ctx);
    const record = await harness.ctx.store.require(registrationId);
    return { registrationId, submissionId: record.submission!.submissionId };
  }

  const report = (submissionId: string, status: SubmissionState['status']): SubmissionState => ({
    submissionId,
    status,
    result: 'VALID',
    reasonCode: null,
  });

  /** Each report is dropped with nothing asked of the store or the queues; the record stays. */
  async function expectIgnored(registrationId: string, version: number, late: SubmissionState[]) {
    for (const state of late) {
      const again = observed();
      await complete({ registrationId, source: 'callback', state }, again.ctx);
      expect(again.calls).toEqual([]);
    }
    expect((await harness.ctx.store.require(registrationId)).version).toBe(version);
  }

  it('drops a report the record has already outgrown without writing', async () => {
    const { registrationId, submissionId } = await confirmed();
    const first = observed();
    const partial = report(submissionId, 'PARTIALLY_COMPLETED');
    await complete({ registrationId, source: 'callback', state: partial }, first.ctx);
    expect(first.calls).toEqual(['store.update']);
    const progressed = await harness.ctx.store.require(registrationId);
    expect(progressed.status).toBe('PARTIALLY_COMPLETED');

    await expectIgnored(registrationId, progressed.version, [
      partial,
      report(submissionId, 'IN_PROGRESS'),
    ]);
  });

  it('ends and publishes once; a late report on the ended registration does nothing more', async () => {
    const { registrationId, submissionId } = await confirmed();
    const ending = observed();
    const done = report(submissionId, 'COMPLETED');
    await complete({ registrationId, source: 'callback', state: done }, ending.ctx);
    expect(ending.published).toHaveLength(1);
    expect(ending.published[0]).toMatchObject({ registrationId, status: 'COMPLETED' });
    expect(ending.calls).toContain('publishResult');
    const ended = await harness.ctx.store.require(registrationId);
    expect(ended.history.at(-1)).toMatchObject({ status: 'COMPLETED', published: true });

    await expectIgnored(registrationId, ended.version, [
      done,
      report(submissionId, 'PARTIALLY_COMPLETED'),
    ]);
  });

  it('still finishes the after-effects of a run that ended the record but did not publish', async () => {
    const { registrationId, submissionId } = await confirmed();
    const crashed = observed();
    crashed.ctx.publishResult = () => Promise.reject(new Error('crashed before publishing'));
    const done = report(submissionId, 'COMPLETED');
    await expect(
      complete({ registrationId, source: 'callback', state: done }, crashed.ctx),
    ).rejects.toThrow('crashed before publishing');

    const replay = observed();
    await complete({ registrationId, source: 'callback', state: done }, replay.ctx);
    expect(replay.published).toHaveLength(1);
    const ended = await harness.ctx.store.require(registrationId);
    expect(ended.history.at(-1)).toMatchObject({ status: 'COMPLETED', published: true });
  });

  it('a timeout of another attempt, or a deadline job before the deadline, ends nothing', async () => {
    const { registrationId } = await confirmed();
    const { version, deadlineAt } = await harness.ctx.store.require(registrationId);
    const deadline = { registrationId, source: 'worker' as const, timedOut: true };

    // Attempt 1 is running: attempt 2's deadline (a job left across a retry) is not its own.
    const other = observed();
    expect(await complete({ ...deadline, attempt: 2 }, other.ctx)).toEqual({ next: [] });
    expect(other.calls).toEqual([]);
    // A deadline job naming no attempt (the release before), early: it runs again then.
    const early = observed();
    expect(await complete(deadline, early.ctx)).toEqual({ next: [], waitUntil: deadlineAt });
    expect(early.calls).toEqual([]);
    expect(await harness.ctx.store.require(registrationId)).toMatchObject({
      version,
      status: 'CONFIRMED',
    });

    // Its own deadline, due: TIMED_OUT, published.
    const due = observed();
    due.ctx.now = () => (deadlineAt ?? 0) + 1;
    await complete({ ...deadline, attempt: 1 }, due.ctx);
    expect(due.published).toEqual([expect.objectContaining({ status: 'TIMED_OUT' })]);
  });

  it('looks at a deadline moved out by a pause still open no sooner than a second later', async () => {
    const { registrationId } = await confirmed();
    const { deadlineAt = 0 } = await harness.ctx.store.require(registrationId);
    // The deadline came 5 ms after a pause began, and the pause is still open.
    const now = deadlineAt + 1;
    const paused = observed();
    paused.ctx.now = () => now;
    paused.ctx.pausedWithin = () => Promise.resolve(5);
    const deadline = { registrationId, source: 'worker' as const, timedOut: true, attempt: 1 };
    const outcome = await complete(deadline, paused.ctx);
    expect(outcome).toEqual({ next: [], waitUntil: now + 1_000 });
    expect(await harness.ctx.store.require(registrationId)).toMatchObject({
      status: 'CONFIRMED',
      deadlineAt: deadlineAt + 5,
      pauseCreditMs: 5,
    });
  });
});
