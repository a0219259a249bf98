import { describe, expect, it } from 'vitest';
import type { CreatedSubmission } from '../src/lib/esign/types.ts';
import { submissionStepOf } from '../src/lib/registration/jobs.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import {
  attachSubmission,
  dropExpiredSubmission,
  endRegistration,
  markConfirmed,
  markDocumentUploaded,
  markUploaded,
} from '../src/lib/registration/transitions.ts';
import { Semaphore } from '../src/lib/semaphore.ts';
import { expectedJob } from '../src/queues/redrive.ts';
import { queuedRecord } from './support/records.ts';

/**
 * Without Redis: where a submission job starts from a record (processors/submit.ts), which
 * jobs re-drive accepts as carrying a registration on, and the per-step limit's semaphore.
 */

const T0 = Date.UTC(2025, 0, 1);

function created(submissionId: string): CreatedSubmission {
  const document = (name: string) => ({
    url: `https://storage.test/${submissionId}/${name}`,
    reference: `ref-${name}`,
    expiresAt: T0 + 900_000,
  });
  return {
    submissionId,
    status: 'INITIATED',
    documents: { KTP: document('ktp'), SELFIE: document('selfie') },
  };
}

const queued = queuedRecord(T0);
const initiated = attachSubmission(queued, created('sub-1'), T0 + 1);
const ktpDone = markDocumentUploaded(
  initiated,
  { submissionId: 'sub-1', document: 'KTP', bytes: 10 },
  T0 + 2,
);
const bothDone = markDocumentUploaded(
  ktpDone,
  { submissionId: 'sub-1', document: 'SELFIE', bytes: 10 },
  T0 + 3,
);
const uploaded = markUploaded(bothDone, T0 + 4);
const confirmed = markConfirmed(
  uploaded,
  'sub-1',
  { jobId: 'reg-1-poll-g0-1', dueAt: T0 + 60_000 },
  T0 + 5,
);
const replaced = dropExpiredSubmission(initiated, 'sub-1');

describe('submissionStepOf', () => {
  it('starts where the record is', () => {
    const cases: [string, RegistrationRecord, string][] = [
      ['queued', queued, 'initiate'],
      ['initiated', initiated, 'upload'],
      ['one document uploaded', ktpDone, 'upload'],
      ['uploaded', uploaded, 'confirm'],
      // A callback moved it on while the confirm's answer was lost: confirm (it adopts), not upload.
      ['uploaded, then a callback', { ...uploaded, status: 'IN_PROGRESS' }, 'confirm'],
      ['a submission replaced after expired URLs', replaced, 'initiate'],
      // initiate only schedules the poll for a confirmed record, or settles an ended one.
      ['confirmed', confirmed, 'initiate'],
      ['failed', endRegistration(uploaded, failure(), T0 + 6), 'initiate'],
    ];
    for (const [what, record, step] of cases) expect(submissionStepOf(record), what).toBe(step);
  });
});

function failure() {
  return {
    status: 'FAILED' as const,
    source: 'worker' as const,
    error: { code: 'INTERNAL' as const, message: 'test' },
  };
}

describe('re-drive before confirmation', () => {
  it('expects the submission job, and accepts an upload or confirm job of the layout before', () => {
    expect(expectedJob(initiated)).toEqual({
      step: 'initiate',
      jobId: 'reg-1-initiate-g0',
      data: { registrationId: 'reg-1' },
      alsoLive: [
        { step: 'upload', jobId: 'reg-1-upload-g0' },
        { step: 'confirm', jobId: 'reg-1-confirm-g0' },
      ],
    });
    expect(expectedJob(queued)?.alsoLive).toEqual([]);
  });

  it("accepts the attempt's earlier-generation submission job: it goes on past a re-initiation", () => {
    expect(replaced.generation).toBe(1);
    const again = attachSubmission(replaced, created('sub-2'), T0 + 9);
    expect(expectedJob(again)).toMatchObject({
      step: 'initiate',
      jobId: 'reg-1-initiate-g1',
      alsoLive: [
        { step: 'initiate', jobId: 'reg-1-initiate-g0' },
        { step: 'upload', jobId: 'reg-1-upload-g1' },
        { step: 'confirm', jobId: 'reg-1-confirm-g1' },
      ],
    });
  });

  it('expects the recorded poll once confirmed, and nothing once ended', () => {
    expect(expectedJob(confirmed)).toMatchObject({ step: 'poll', jobId: 'reg-1-poll-g0-1' });
    expect(expectedJob(endRegistration(uploaded, failure(), T0 + 6))).toBeUndefined();
  });
});

describe('Semaphore', () => {
  const never = new AbortController().signal;
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    return { opened, open };
  };

  it('holds at most its limit, and hands a slot to waiters in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const order: number[] = [];
    const waits: boolean[] = [];
    const gates = [gate(), gate(), gate(), gate()];
    const runs = gates.map((g, index) =>
      semaphore.run(never, async (waited) => {
        order.push(index);
        waits[index] = waited;
        await g.opened;
      }),
    );
    await Promise.resolve();
    expect(semaphore.state).toEqual({ held: 2, waiting: 2 });
    expect(order).toEqual([0, 1]);
    gates[1]?.open();
    await runs[1];
    await Promise.resolve();
    expect(order).toEqual([0, 1, 2]);
    expect(semaphore.state).toEqual({ held: 2, waiting: 1 });
    for (const g of gates) g.open();
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3]);
    // Told whether they waited: what they read before may be out of date.
    expect(waits).toEqual([false, false, true, true]);
    expect(semaphore.state).toEqual({ held: 0, waiting: 0 });
  });

  it('gives a slot back when the work throws', async () => {
    const semaphore = new Semaphore(1);
    await expect(
      semaphore.run(never, () => Promise.reject(new Error('step failed'))),
    ).rejects.toThrow('step failed');
    expect(semaphore.state).toEqual({ held: 0, waiting: 0 });
    await expect(semaphore.run(never, () => Promise.resolve('ran'))).resolves.toBe('ran');
  });

  it('ends a wait when its signal aborts, holding nothing and running nothing', async () => {
    const semaphore = new Semaphore(1);
    const holder = gate();
    const held = semaphore.run(never, () => holder.opened);
    const shutdown = new AbortController();
    let ran = false;
    const waiting = semaphore.run(shutdown.signal, () => {
      ran = true;
      return Promise.resolve();
    });
    shutdown.abort(new Error('shutdown timeout'));
    await expect(waiting).rejects.toThrow('shutdown timeout');
    expect(semaphore.state).toEqual({ held: 1, waiting: 0 });
    holder.open();
    await held;
    expect(ran).toBe(false);
    expect(semaphore.state).toEqual({ held: 0, waiting: 0 });
    await expect(semaphore.run(shutdown.signal, () => Promise.resolve())).rejects.toThrow(
      'shutdown timeout',
    );
  });
});
