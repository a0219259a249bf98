import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirm } from '../src/processors/confirm.ts';
import type { StepContext } from '../src/processors/context.ts';
import { initiate } from '../src/processors/initiate.ts';
import { upload } from '../src/processors/upload.ts';
import type { SubmissionSnapshot } from '../sandbox/index.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { stepContext, type StepHarness } from './support/step-context.ts';

/**
 * A job can run twice: a worker dies after the work and before BullMQ heard it finished, or a
 * replayed enqueue after the job was removed. Running a step again must not repeat its call
 * at Esign: no second submission, no second upload, no second confirm. The steps run here
 * directly, twice each, on the real record store, client and sandbox; no worker runs, so
 * nothing else moves the registration meanwhile.
 */
describe('a step run twice', () => {
  let stack: Stack;
  let harness: StepHarness;
  let ctx: StepContext;

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
    harness = stepContext(stack);
    ctx = harness.ctx;
  });
  afterAll(async () => {
    await harness.close();
    await stack.close();
  });

  const answered = (endpoint: 'create_submission' | 'upload' | 'confirm') =>
    stack.sandbox.inspect().calls[endpoint]['200'] ?? 0;

  it('initiate, upload and confirm each reach Esign once', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    const ours = (): SubmissionSnapshot[] =>
      stack.sandbox.inspect().submissions.filter((s) => s.userId === request.partnerUserId);

    const created = answered('create_submission');
    const firstInitiate = await initiate(data, ctx);
    const secondInitiate = await initiate(data, ctx);
    expect(secondInitiate).toEqual(firstInitiate);
    expect(answered('create_submission') - created).toBe(1);
    expect(ours()).toHaveLength(1);

    const uploads = answered('upload');
    const firstUpload = await upload(data, ctx);
    const bytes = ours()[0]?.bytes;
    const secondUpload = await upload(data, ctx);
    expect(secondUpload).toEqual(firstUpload);
    expect(answered('upload') - uploads).toBe(2); // KTP and SELFIE, once each
    expect(ours()[0]?.bytes).toBe(bytes);

    const confirms = answered('confirm');
    const firstConfirm = await confirm(data, ctx);
    const secondConfirm = await confirm(data, ctx);
    // Both ask for the same fallback poll: its deterministic id makes the second add a no-op.
    expect(secondConfirm.next.map((next) => next.jobId)).toEqual(
      firstConfirm.next.map((next) => next.jobId),
    );
    expect(answered('confirm') - confirms).toBe(1);
    expect(ours().map((s) => s.confirmCount)).toEqual([1]);

    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.history.map((entry) => entry.status)).toEqual([
      'QUEUED',
      'INITIATED',
      'UPLOADED',
      'CONFIRMED',
    ]);
  });

  it('two runs of confirm at once (a lapsed lock): one confirm at Esign, the other looks later', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    await initiate(data, ctx);
    await upload(data, ctx);

    const runs = await Promise.all([confirm(data, ctx), confirm(data, ctx)]);
    // The winner is done: its confirmation set the fallback poll in the registration's timer.
    // The loser either saw the claim in flight and waits to look again when its lease ends, or
    // saw it done and is done too.
    const finished = runs.filter((run) => run.next.length === 0 && run.waitUntil === undefined);
    const waits = runs.filter((run) => run.waitUntil !== undefined);
    expect(finished.length).toBeGreaterThanOrEqual(1);
    expect(finished.length + waits.length).toBe(2);
    const { pollDueAt } = await ctx.store.require(registrationId);
    expect(pollDueAt).toBeTypeOf('number');
    expect(await ctx.store.timers.of(registrationId)).toBe(pollDueAt);
    for (const wait of waits) {
      expect(wait.next).toEqual([]);
      expect(wait.waitUntil).toBeGreaterThan(Date.now());
    }
    // The later look finds it confirmed and sends nothing.
    await confirm(data, ctx);
    const submissions = stack.sandbox
      .inspect()
      .submissions.filter((s) => s.userId === request.partnerUserId);
    expect(submissions.map((s) => s.confirmCount)).toEqual([1]);
    expect((await stack.producer.getRegistration(registrationId))?.status).toBe('CONFIRMED');
  });

  it('a confirm claimed but never answered is looked at after its lease, then sent once', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    await initiate(data, ctx);
    await upload(data, ctx);
    // A run that claimed the send and died before its request left: confirmingAt, no confirm.
    const claimedAt = Date.now();
    await ctx.store.update(registrationId, (current) => ({
      ...current,
      confirmingAt: claimedAt,
      confirmingUntil: claimedAt + 5_000,
    }));

    // Until the lease ends it waits: the same job, again when the lease ends.
    const early = await confirm(data, ctx);
    expect(early).toEqual({ next: [], waitUntil: claimedAt + 5_000 });
    expect(
      stack.sandbox.inspect().submissions.find((s) => s.userId === request.partnerUserId)
        ?.confirmCount,
    ).toBe(0);

    // After the lease: Esign still has it INITIATED, so this run claims and sends, once.
    const later = Date.now() + 6_000;
    const afterLease = await confirm(data, { ...ctx, now: () => later });
    expect(afterLease).toEqual({ next: [] });
    // Its fallback poll: CALLBACK_TIMEOUT_MS after the confirmation, in the timer.
    const callbackTimeoutMs = ctx.settings.callbackTimeoutMs;
    expect(await ctx.store.require(registrationId)).toMatchObject({
      pollDueAt: later + callbackTimeoutMs,
    });
    expect(await ctx.store.timers.of(registrationId)).toBe(later + callbackTimeoutMs);
    expect(
      stack.sandbox.inspect().submissions.find((s) => s.userId === request.partnerUserId)
        ?.confirmCount,
    ).toBe(1);
  });

  it('a run that read the record before Redis lost its submission does not confirm it', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const data = { registrationId };
    await initiate(data, ctx);
    await upload(data, ctx);
    // What this run read: the submission, both documents uploaded.
    const known = await ctx.store.require(registrationId);
    // Then Redis lost its latest writes: the record is back to before the submission.
    await ctx.store.update(registrationId, (current) => ({
      ...current,
      status: 'QUEUED',
      submission: undefined,
    }));
    const outcome = await confirm(data, ctx, known);
    // No claim, no confirm: the job runs again at once, from the record as it is.
    expect(outcome.next).toEqual([]);
    expect(outcome.waitUntil).toBeTypeOf('number');
    const at = stack.sandbox
      .inspect()
      .submissions.filter((s) => s.userId === request.partnerUserId);
    expect(at.map((s) => s.confirmCount)).toEqual([0]);
    expect((await ctx.store.require(registrationId)).confirmingAt).toBeUndefined();
  });
});
