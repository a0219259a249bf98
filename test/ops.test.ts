import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import type { RegistrationView } from '../src/lib/registration/view.ts';
import { runCli, type CliRun } from './support/cli.ts';
import { person, registrationRequest, type TestPerson } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { until } from './support/until.ts';

/**
 * The operator's commands end to end: `esign-worker list|inspect|retry|pause|resume` run as
 * child processes, as an operator runs them, against the local stack (sandbox over HTTP, real
 * Redis under a unique prefix, the workers in this process).
 */

const GIVE_UP_MS = 4_000;

// Generous: each CLI call is a Node process start, slow on a loaded two-core machine.
describe('ops commands', { timeout: 120_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CALLBACK_TIMEOUT_MS: '300', POLL_GIVE_UP_MS: String(GIVE_UP_MS) },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  const cli = (...args: string[]): Promise<CliRun> => runCli(args, stack.env);
  const view = async (id: string): Promise<RegistrationView> => {
    const found = await stack.producer.getRegistration(id);
    if (!found) throw new Error(`registration ${id} is gone`);
    return found;
  };
  const resultOf = (id: string, attempt: number) =>
    until(() => stack.results.find((r) => r.registrationId === id && (r.attempt ?? 1) === attempt));
  const expectNoPii = (text: string, who: TestPerson) => {
    for (const value of [who.name, who.nik, who.email, who.phoneNumber, who.userIp, who.deviceId])
      expect(text).not.toContain(value);
  };

  /** A registration Esign refuses (a 400 on confirm): FAILED by our side, ESIGN_REJECTED. */
  async function failedRegistration() {
    const who = person('completed');
    const request = registrationRequest(who);
    stack.sandbox.setFaults({ failNext: { confirm: 1 }, failStatus: 400 });
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const result = await resultOf(registrationId, 1);
    stack.sandbox.setFaults({ failStatus: 500 });
    expect(result).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(result.error?.code).toBe('ESIGN_REJECTED');
    return { who, request, registrationId };
  }

  it('list shows the registrations of each status, one line each, without PII', async () => {
    const done = person('completed');
    const completed = await stack.producer.enqueueRegistration(registrationRequest(done));
    await resultOf(completed.registrationId, 1);
    const failed = await failedRegistration();

    const listed = await cli('list', '--status', 'COMPLETED');
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    const lines = listed.stdout.trim().split('\n');
    const line = lines.find((l) => l.startsWith(`${completed.registrationId}\t`));
    expect(line).toMatch(
      new RegExp(`^${completed.registrationId}\\tCOMPLETED\\t\\d+(s|m\\d\\ds)$`),
    );
    expect(listed.stdout).not.toContain(failed.registrationId);
    expectNoPii(listed.stdout, done);

    const failedList = await cli('list', '--status', 'FAILED', '--json');
    expect(failedList.code).toBe(0);
    const entries = JSON.parse(failedList.stdout) as { registrationId: string; status: string }[];
    expect(entries.map((e) => e.registrationId)).toContain(failed.registrationId);
    expect(entries.map((e) => e.registrationId)).not.toContain(completed.registrationId);
    expect(entries.every((e) => e.status === 'FAILED')).toBe(true);
    expectNoPii(failedList.stdout, failed.who);

    // Every registration of this stack so far is ended: none is listed as in flight.
    expect((await cli('list', '--status', 'QUEUED')).stdout).toBe('');
    const limited = await cli('list', '--status', 'COMPLETED', '--limit', '1');
    expect(limited.stdout.trim().split('\n')).toHaveLength(1);

    // The scripts indexed every record as they wrote it: the rebuild finds nothing to add.
    expect(await cli('reindex')).toMatchObject({
      code: 0,
      stdout: 'indexed 0 registration(s) that were not indexed yet\n',
    });

    expect(await cli('list')).toMatchObject({ code: 2 });
    expect(await cli('list', '--status', 'DONE')).toMatchObject({ code: 2 });
    expect(await cli('list', '--status', 'FAILED', '--limit', '0')).toMatchObject({ code: 2 });
  });

  it("inspect shows the record and each job's state, attempts and failedReason, no PII", async () => {
    const { who, registrationId } = await failedRegistration();
    const run = await cli('inspect', registrationId);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const shown = JSON.parse(run.stdout) as {
      registration: RegistrationView;
      jobs: {
        queue: string;
        id: string;
        state: string;
        attemptsMade: number;
        failedReason: string | null;
      }[];
    };
    expect(shown.registration).toMatchObject({ registrationId, status: 'FAILED', attempt: 1 });
    const byQueue = (queue: string) => shown.jobs.filter((job) => job.queue === queue);
    // One submission job ran initiate, upload and confirm; it failed at confirm.
    const [submissionJob, ...more] = byQueue('initiate');
    expect(more).toEqual([]);
    expect(submissionJob).toMatchObject({
      id: `${registrationId}-initiate-g0`,
      state: 'failed',
      attemptsMade: 1,
    });
    expect(submissionJob?.failedReason).toMatch(/^ESIGN_REJECTED: /);
    expect(byQueue('upload')).toEqual([]);
    expect(byQueue('confirm')).toEqual([]);
    expect(byQueue('results')).toMatchObject([{ id: `${registrationId}-1`, state: 'completed' }]);
    expectNoPii(run.stdout, who);
    expect(run.stdout).not.toMatch(/X-Amz-|Signature=|sealed/i);

    expect(await cli('inspect', 'no-such-registration')).toMatchObject({ code: 3 });
    expect(await cli('inspect')).toMatchObject({ code: 2 });
  });

  it('retry re-runs a FAILED registration as attempt 2, which ends COMPLETED', async () => {
    const { who, request, registrationId } = await failedRegistration();

    // Its request went when it ended: without one, or with another user's, nothing happens.
    const bare = await cli('retry', registrationId);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('give the request again');
    const strangerFile = join(stack.imageRoot, `${registrationId}-stranger.json`);
    await writeFile(strangerFile, JSON.stringify({ ...request, partnerUserId: 'someone-else' }));
    const stranger = await cli('retry', registrationId, strangerFile);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('partnerUserId: is not the partner user');
    expect(stranger.stderr).not.toContain('someone-else');
    expect((await view(registrationId)).status).toBe('FAILED');

    const file = join(stack.imageRoot, `${registrationId}.json`);
    await writeFile(file, JSON.stringify(request));
    const run = await cli('retry', registrationId, file);
    expect(run).toMatchObject({ code: 0, stdout: `${registrationId}\tattempt 2\n` });
    expectNoPii(run.stdout + run.stderr, who);

    const second = await resultOf(registrationId, 2);
    expect(second).toMatchObject({ status: 'COMPLETED', result: 'VALID', attempt: 2 });
    const first = stack.results.find((r) => r.registrationId === registrationId && r.attempt === 1);
    expect(second.submissionId).not.toBe(first?.submissionId);
    const shown = await view(registrationId);
    expect(shown).toMatchObject({ status: 'COMPLETED', attempt: 2, userDetails: 'scrubbed' });
    expect(shown.previousSubmissionIds).toEqual([first?.submissionId]);
    expect(shown.history.map((h) => h.status)).toEqual(
      expect.arrayContaining(['FAILED', 'QUEUED', 'COMPLETED']),
    );
    expect(shown.history.find((h) => h.attempt === 2)).toMatchObject({ status: 'QUEUED' });
    expect(stack.results.filter((r) => r.registrationId === registrationId)).toHaveLength(2);

    // The user's slot was claimed again, and freed again when attempt 2 ended.
    const again = await stack.producer.enqueueRegistration({
      ...registrationRequest(person('completed')),
      partnerUserId: request.partnerUserId,
    });
    expect(again.created).toBe(true);
    await resultOf(again.registrationId, 1);

    // What Esign decided is not retried; an unknown id is exit 3.
    const refused = await cli('retry', registrationId, file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is COMPLETED: only FAILED or TIMED_OUT');
    expect(await cli('retry', 'no-such-registration', file)).toMatchObject({ code: 3 });
  });

  it('retry claims the user slot; a TIMED_OUT registration is retried with a new submission', async () => {
    const { request, registrationId } = await failedRegistration();
    const stuckRequest = {
      ...registrationRequest(person('stuck')),
      partnerUserId: request.partnerUserId,
    };
    // Held in QUEUED (initiate paused), so it is in flight for as long as the test needs.
    expect((await cli('pause', 'initiate')).code).toBe(0);
    let other: { registrationId: string };
    let run: CliRun;
    try {
      other = await stack.producer.enqueueRegistration(stuckRequest);
      const file = join(stack.imageRoot, `${registrationId}.json`);
      await writeFile(file, JSON.stringify(request));
      run = await cli('retry', registrationId, file);
    } finally {
      expect((await cli('resume', 'initiate')).code).toBe(0);
    }
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `REGISTRATION_IN_FLIGHT: partner user already has registration ${other.registrationId}`,
    );
    expect((await view(registrationId)).status).toBe('FAILED');
    // "stuck" never finishes: TIMED_OUT after POLL_GIVE_UP_MS.
    const timedOut = await resultOf(other.registrationId, 1);
    expect(timedOut.status).toBe('TIMED_OUT');

    // A TIMED_OUT one is retried too. Esign still has its first submission, indexed to this
    // registration and still processing: attempt 2 makes its own rather than adopt that one.
    const stuckFile = join(stack.imageRoot, `${other.registrationId}.json`);
    await writeFile(stuckFile, JSON.stringify(stuckRequest));
    const retried = await cli('retry', other.registrationId, stuckFile);
    expect(retried).toMatchObject({ code: 0, stdout: `${other.registrationId}\tattempt 2\n` });
    const second = await resultOf(other.registrationId, 2);
    expect(second).toMatchObject({ status: 'TIMED_OUT', attempt: 2 });
    expect(second.submissionId).not.toBeNull();
    expect(second.submissionId).not.toBe(timedOut.submissionId);
  });

  it('pause holds the work and resume continues it; paused time does not count to the deadline', async () => {
    const paused = await cli('pause');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/^initiate\tpaused\tsince \S+$/m);
    expect(paused.stdout.match(/\tpaused/g)).toHaveLength(5);
    let resumed = false;
    try {
      const { registrationId } = await stack.producer.enqueueRegistration(
        registrationRequest(person('completed')),
      );
      const initiate = stack.worker?.pipelines[0]?.queues.steps.initiate;
      await until(async () => (await initiate?.getJobCountByTypes('wait')) ?? 0);
      expect((await view(registrationId)).status).toBe('QUEUED');

      const run = await cli('resume');
      resumed = true;
      expect(run.code).toBe(0);
      expect(run.stdout.match(/\trunning/g)).toHaveLength(5);
      expect(await resultOf(registrationId, 1)).toMatchObject({ status: 'COMPLETED' });
    } finally {
      if (!resumed) await cli('resume');
    }

    // A registration waiting for its result (it never comes: "stuck"), with poll and complete
    // paused from before its confirm until past its POLL_GIVE_UP_MS: after resume its next
    // poll does not give up, and it times out only once the unpaused wait is spent.
    expect((await cli('pause', 'poll', 'complete')).code).toBe(0);
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('stuck')),
    );
    const confirmedAt = Date.parse(
      await until(async () => (await view(registrationId)).confirmedAt),
    );
    await until(() => Date.now() > confirmedAt + GIVE_UP_MS + 500);
    expect(await view(registrationId)).toMatchObject({ status: 'CONFIRMED', pollAttempts: 0 });
    // Paused all along since the confirm, and until at least now (the ledger closes after
    // `resume` has resumed the queues).
    const pausedMs = Date.now() - confirmedAt;
    expect((await cli('resume', 'poll', 'complete')).code).toBe(0);
    const after = await until(async () => {
      const current = await view(registrationId);
      return current.pollAttempts > 0 || current.status === 'TIMED_OUT' ? current : undefined;
    });
    expect(after.status).not.toBe('TIMED_OUT');
    const result: RegistrationResult = await resultOf(registrationId, 1);
    expect(result.status).toBe('TIMED_OUT');
    expect(Date.parse(result.finishedAt) - confirmedAt).toBeGreaterThanOrEqual(
      GIVE_UP_MS + pausedMs,
    );

    expect(await cli('pause', 'nonsense')).toMatchObject({ code: 2 });
  });
});
