import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationRequestInput } from '../src/lib/registration/request-schema.ts';
import type { SubmissionSnapshot } from '../sandbox/index.ts';
import { waitUntil, type ChildCli } from '../demo/child-process.ts';
import { person, registrationRequest } from './support/requests.ts';
import { sandboxCredentials, startStack, type Stack } from './support/stack.ts';

/**
 * The durability promise: BullMQ is at-least-once, so a worker process that dies mid-step
 * (SIGKILL: no clean-up, no finally) leaves its job to be run again by another worker, and
 * every step must survive that. Each case kills a real `esign-worker worker` child at a
 * known point, starts a second one, and checks what reached the sandbox.
 */
describe('a worker child process killed with SIGKILL mid-step', () => {
  let stack: Stack;
  const children: ChildCli[] = [];

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    // A test that failed before its one-shot fault was used must not leave it to the next.
    stack.sandbox.setFaults({
      hangNext: { confirm: 0, upload: 0 },
      loseAnswerNext: { confirm: 0, create_submission: 0 },
      dropCallbacksNext: 0,
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  function startWorker(env: Record<string, string> = {}): ChildCli {
    const child = stack.startProcess('worker', {
      LOG_LEVEL: 'info',
      // A hung call must stay hung until the kill, not time out and retry on its own.
      ESIGN_REQUEST_TIMEOUT_MS: '30000',
      // The killed worker's confirm cannot still be on its way: the next one may look after 1 s
      // (by default it waits connect + request timeout, for a slow but living run).
      CONFIRM_LEASE_MS: '1000',
      // The killed worker's job is requeued ~2 s after its last lock renewal, not 30 s.
      LOCK_DURATION_MS: '2000',
      STALLED_INTERVAL_MS: '500',
      ...env,
    });
    children.push(child);
    return child;
  }

  /** Run one registration, SIGKILL the worker once `killPoint` holds, finish with a new one. */
  async function killAt(
    killPoint: () => boolean,
    what: string,
    request: RegistrationRequestInput,
    env: Record<string, string> = {},
  ) {
    const first = startWorker(env);
    // Started before the clock of killPoint: a loaded machine can take seconds to boot a child.
    await first.waitForLog('worker ready', 30_000);
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    await waitUntil(killPoint, { timeoutMs: 15_000, what });
    await first.kill();
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = await stack.producer.getRegistration(registrationId);

    const second = startWorker(env);
    const result = await stack.waitForResult(registrationId, 30_000);
    // The job the kill left active came back through the stalled check, and the log says so
    // (other jobs an earlier kill left may come back too: this registration's is among them).
    const stalled = second.lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'stalled job put back to run again');
    expect(stalled.map((entry) => entry.level)).toContain(40);
    expect(stalled.some((entry) => String(entry.jobId).includes(registrationId))).toBe(true);
    const submissions = stack.sandbox
      .inspect()
      .submissions.filter((s) => s.userId === request.partnerUserId);
    // Crash and recovery paths log too: still no PII in either process's output.
    const output = [...first.lines, ...first.stderr, ...second.lines, ...second.stderr].join('\n');
    expect(output).toContain(registrationId);
    const { nik, name, email, phoneNumber } = request.userDetails;
    for (const secret of [nik, name, email, phoneNumber, sandboxCredentials.passKey])
      expect(output).not.toContain(secret);
    return { registrationId, result, atKill, submissions };
  }

  function only(submissions: SubmissionSnapshot[]): SubmissionSnapshot {
    expect(submissions).toHaveLength(1);
    return submissions[0] as SubmissionSnapshot;
  }

  /** Answers Esign gave that the sandbox withheld so far (the `loseAnswerNext` fault). */
  const lost = (endpoint: 'confirm' | 'create_submission') =>
    stack.sandbox.inspect().calls[endpoint].lost ?? 0;

  it('after Esign accepted the confirm but before the worker heard: no second confirm', async () => {
    // Esign confirms, and its answer never reaches the worker: the worst moment for a crash.
    // No callback for this submission either: only the re-run confirm job, which schedules
    // the poll, can end the registration, so the result proves the re-run happened.
    const lostBefore = lost('confirm');
    stack.sandbox.setFaults({ loseAnswerNext: { confirm: 1 }, dropCallbacksNext: 1 });
    const request = registrationRequest(person('completed'));
    const { registrationId, result, atKill, submissions } = await killAt(
      () => lost('confirm') > lostBefore,
      'the sandbox to answer the confirm',
      request,
      { CALLBACK_TIMEOUT_MS: '200' },
    );
    // The kill came after Esign confirmed and before the worker recorded it.
    expect(atKill?.confirmedAt).toBeNull();
    expect(atKill?.status).toBe('UPLOADED');

    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID', source: 'poll' });
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.confirmedAt).not.toBeNull();
    const submission = only(submissions);
    expect(submission.submissionId).toBe(result.submissionId);
    expect(submission.confirmCount).toBe(1);
    expect(stack.results.filter((r) => r.registrationId === result.registrationId)).toHaveLength(1);
  }, 60_000);

  it('while the confirm hangs unanswered at Esign: confirmed exactly once by the next worker', async () => {
    const hungBefore = stack.sandbox.inspect().calls.confirm.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { confirm: 1 } });
    const request = registrationRequest(person('completed'));
    const { result, atKill, submissions } = await killAt(
      () => (stack.sandbox.inspect().calls.confirm.hang ?? 0) > hungBefore,
      'the sandbox to receive the confirm',
      request,
    );
    expect(atKill?.confirmedAt).toBeNull();

    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    const submission = only(submissions);
    expect(submission.submissionId).toBe(result.submissionId);
    expect(submission.confirmCount).toBe(1);
    expect(stack.results.filter((r) => r.registrationId === result.registrationId)).toHaveLength(1);
  }, 60_000);

  it('mid-upload: the same submission is completed, its images uploaded, one confirm', async () => {
    const hungBefore = stack.sandbox.inspect().calls.upload.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { upload: 1 } });
    const request = registrationRequest(person('completed'));
    const { result, atKill, submissions } = await killAt(
      () => (stack.sandbox.inspect().calls.upload.hang ?? 0) > hungBefore,
      'the sandbox to receive an upload',
      request,
    );
    expect(atKill?.status).toBe('INITIATED');

    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    const submission = only(submissions);
    expect(submission.submissionId).toBe(result.submissionId);
    expect(submission.uploaded).toEqual({ KTP: true, SELFIE: true });
    expect(submission.confirmCount).toBe(1);
  }, 60_000);

  it('after Esign created the submission but before the worker saved it: one orphan at most', async () => {
    // Create-submission has no idempotency key, so this is the one duplicate the design
    // allows: the lost submission stays INITIATED and unconfirmed; the registration uses
    // the second one.
    const lostBefore = lost('create_submission');
    stack.sandbox.setFaults({ loseAnswerNext: { create_submission: 1 } });
    const request = registrationRequest(person('completed'));
    const { result, atKill, submissions } = await killAt(
      () => lost('create_submission') > lostBefore,
      'the sandbox to answer create-submission',
      request,
    );
    expect(atKill?.submissionId).toBeNull();

    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    expect(submissions).toHaveLength(2);
    const used = submissions.filter((s) => s.submissionId === result.submissionId);
    const orphans = submissions.filter((s) => s.submissionId !== result.submissionId);
    expect(used.map((s) => s.confirmCount)).toEqual([1]);
    expect(orphans.map((s) => ({ status: s.status, confirmCount: s.confirmCount }))).toEqual([
      { status: 'INITIATED', confirmCount: 0 },
    ]);
  }, 60_000);

  it('killed twice on the same job: the registration fails with a result, never stuck', async () => {
    // BullMQ fails a job that stalled more than maxStalledCount (1) times without running
    // the processor; the registration must still end, publish, and free the user's slot.
    const hungBefore = stack.sandbox.inspect().calls.upload.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { upload: 2 } });
    const request = registrationRequest(person('completed'));
    const first = startWorker();
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    for (const [index, worker] of [first, undefined].entries()) {
      const running = worker ?? startWorker();
      await waitUntil(() => (stack.sandbox.inspect().calls.upload.hang ?? 0) > hungBefore + index, {
        timeoutMs: 15_000,
        what: `upload hang ${String(index + 1)}`,
      });
      await running.kill();
    }

    startWorker();
    const result = await stack.waitForResult(registrationId, 30_000);
    expect(result).toMatchObject({ status: 'FAILED', error: { code: 'INTERNAL' } });
    expect(JSON.stringify(result.error)).toContain('stalled');
    // The slot is free: the same partner user can register again.
    const again = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed'), { partnerUserId: request.partnerUserId }),
    );
    expect(again.created).toBe(true);
  }, 60_000);
});
