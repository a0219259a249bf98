import { queuedRecord } from './support/records.ts';
import { describe, expect, it } from 'vitest';
import type { SubmissionState } from '../src/lib/esign/schemas.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import {
  adoptSubmission,
  attachSubmission,
  endRegistration,
  markDocumentUploaded,
} from '../src/lib/registration/transitions.ts';

/**
 * adoptSubmission without Redis: the record catches up with a submission Esign has past
 * INITIATED (a lost one in initiate, its own in upload). Inputs are deep-frozen, so a
 * mutation would throw; a guard that holds gives back the very record it was handed.
 */

const T0 = Date.UTC(2026, 5, 1);
const POLL = { jobId: 'reg-1-poll-g0-1', dueAt: T0 + 60_000 };

function frozen<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) frozen(inner);
    Object.freeze(value);
  }
  return value;
}

function state(status: SubmissionState['status'], submissionId = 'sub-1'): SubmissionState {
  return { submissionId, status, processedAt: new Date(T0 + 5).toISOString() };
}

const queued: RegistrationRecord = frozen(
  queuedRecord(T0, {
    version: 1,
    sealedRequest: 'sealed',
    imageKinds: { ktp: 'path', selfie: 'path' },
  }),
);
const document = (name: string) => ({
  url: `https://storage.test/${name}`,
  reference: `ref-${name}`,
  expiresAt: T0 + 900_000,
});
const initiated = frozen(
  attachSubmission(
    queued,
    { submissionId: 'sub-1', documents: { KTP: document('ktp'), SELFIE: document('selfie') } },
    T0 + 1,
  ),
);
const ktpOnly = frozen(
  markDocumentUploaded(initiated, { submissionId: 'sub-1', document: 'KTP', bytes: 10 }, T0 + 2),
);

function expectUnchanged(record: RegistrationRecord, at: SubmissionState): void {
  expect(adoptSubmission(record, at, POLL, T0 + 9)).toBe(record);
}

describe('adoptSubmission', () => {
  it('in initiate: a lost submission becomes ours, confirmed, with no upload URL kept', () => {
    expect(adoptSubmission(queued, state('IN_PROGRESS'), POLL, T0 + 9)).toStrictEqual({
      ...queued,
      sealedRequest: undefined,
      status: 'CONFIRMED',
      submission: {
        submissionId: 'sub-1',
        createdAt: T0 + 9,
        documents: {
          KTP: { url: '', reference: '', expiresAt: 0, uploadedAt: T0 + 9 },
          SELFIE: { url: '', reference: '', expiresAt: 0, uploadedAt: T0 + 9 },
        },
      },
      confirmedAt: T0 + 9,
      confirmingUntil: undefined,
      pollJobId: POLL.jobId,
      pollDueAt: POLL.dueAt,
      history: [...queued.history, { status: 'CONFIRMED', at: T0 + 9, source: 'poll' }],
    });
  });

  it('in upload: our own submission whose confirm landed unseen; what we knew stays, URLs and request go', () => {
    // Claimed as a release before this guard could, or as Redis kept it after losing writes.
    const claimed = frozen({ ...ktpOnly, confirmingAt: T0 + 3, confirmingUntil: T0 + 5_003 });
    const next = adoptSubmission(claimed, state('COMPLETED'), POLL, T0 + 9);
    expect(next.submission).toStrictEqual({
      submissionId: 'sub-1',
      createdAt: T0 + 1,
      documents: {
        KTP: { ...document('ktp'), url: '', uploadedAt: T0 + 2, bytes: 10 },
        SELFIE: { ...document('selfie'), url: '', uploadedAt: T0 + 9 },
      },
    });
    expect(next.sealedRequest).toBeUndefined();
    expect(next).toMatchObject({
      status: 'CONFIRMED',
      confirmedAt: T0 + 9,
      confirmingAt: T0 + 3,
      confirmingUntil: undefined,
      pollJobId: POLL.jobId,
      pollDueAt: POLL.dueAt,
    });
  });

  it('adopts nothing Esign has not confirmed, nothing over another submission, nothing twice', () => {
    expectUnchanged(queued, state('INITIATED'));
    expectUnchanged(initiated, state('IN_PROGRESS', 'sub-other'));
    const adopted = frozen(adoptSubmission(queued, state('IN_PROGRESS'), POLL, T0 + 9));
    expectUnchanged(adopted, state('PARTIALLY_COMPLETED'));
  });

  it('on a record a callback already ended: no poll recorded, the status stays', () => {
    const ended = frozen(
      endRegistration(initiated, { status: 'FAILED', source: 'worker' }, T0 + 4),
    );
    const next = adoptSubmission(ended, state('COMPLETED'), POLL, T0 + 9);
    expect(next.status).toBe('FAILED');
    expect(next.pollJobId).toBeUndefined();
    expect(next.pollDueAt).toBeUndefined();
    expect(next.confirmedAt).toBe(T0 + 9);
  });
});
