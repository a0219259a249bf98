import { queuedRecord } from './support/records.ts';
import { describe, expect, it } from 'vitest';
import type { SubmissionState } from '../src/lib/esign/schemas.ts';
import type { CreatedSubmission } from '../src/lib/esign/types.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import {
  applyProgress,
  attachSubmission,
  claimConfirm,
  dropExpiredSubmission,
  endRegistration,
  markConfirmed,
  noteUnownedSubmission,
  markDocumentUploaded,
  markPublished,
  markUploaded,
  recordPollAttempt,
  releaseConfirmClaim,
  type Transition,
} from '../src/lib/registration/transitions.ts';
import { RESULT_FORMAT_VERSION } from '../src/lib/registration/format.ts';

/**
 * The record's named transitions, without Redis: each applies once, and a stale or replayed
 * input gives back the very record it was handed. Every input is deep-frozen, so a transition
 * that mutated its input instead of returning a new record would throw here.
 */

const T0 = Date.UTC(2025, 0, 1);
const LEASE = 5_000;
const POLL_1 = { jobId: 'reg-1-poll-g0-1', dueAt: T0 + 60_000 };
const POLL_2 = { jobId: 'reg-1-poll-g0-2', dueAt: T0 + 61_000 };
const POLL_3 = { jobId: 'reg-1-poll-g0-3', dueAt: T0 + 63_000 };

function frozen<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) frozen(inner);
    Object.freeze(value);
  }
  return value;
}

/** The guard holds: same object back, and equal to what it was before the call. */
function expectUnchanged(record: RegistrationRecord, transition: Transition): void {
  const before = structuredClone(record);
  const after = transition(record);
  expect(after).toBe(record);
  expect(after).toStrictEqual(before);
}

function created(submissionId: string): CreatedSubmission {
  return {
    submissionId,
    status: 'INITIATED',
    documents: {
      KTP: {
        url: `https://storage.test/${submissionId}/ktp`,
        reference: 'ref-ktp',
        expiresAt: T0 + 900_000,
      },
      SELFIE: {
        url: `https://storage.test/${submissionId}/selfie`,
        reference: 'ref-selfie',
        expiresAt: T0 + 900_000,
      },
    },
  };
}

function state(
  status: SubmissionState['status'],
  extra: Partial<SubmissionState> = {},
): SubmissionState {
  return { submissionId: 'sub-1', status, ...extra };
}

// Each stage is built from the one before with the transitions under test; each is checked
// against literal expectations in its own test below.
const queued: RegistrationRecord = frozen(queuedRecord(T0));
const initiated = frozen(attachSubmission(queued, created('sub-1'), T0 + 1));
const ktpUploaded = frozen(
  markDocumentUploaded(initiated, { submissionId: 'sub-1', document: 'KTP', bytes: 100 }, T0 + 2),
);
const bothUploaded = frozen(
  markDocumentUploaded(
    ktpUploaded,
    { submissionId: 'sub-1', document: 'SELFIE', bytes: 200 },
    T0 + 3,
  ),
);
const uploaded = frozen(markUploaded(bothUploaded, T0 + 4));
const claimed = frozen(claimConfirm(uploaded, undefined, 'sub-1', T0 + 5, LEASE));
const confirmed = frozen(markConfirmed(claimed, 'sub-1', POLL_1, T0 + 6));
const ended = frozen(
  endRegistration(
    confirmed,
    { status: 'COMPLETED', source: 'callback', state: state('COMPLETED', { result: 'VALID' }) },
    T0 + 7,
  ),
);

describe('attachSubmission', () => {
  it('keeps the new submission (URLs, references, expiry only) and moves to INITIATED', () => {
    const next = attachSubmission(queued, created('sub-1'), T0 + 1);
    expect(next).toStrictEqual({
      ...queued,
      status: 'INITIATED',
      submission: {
        submissionId: 'sub-1',
        createdAt: T0 + 1,
        documents: {
          KTP: {
            url: 'https://storage.test/sub-1/ktp',
            reference: 'ref-ktp',
            expiresAt: T0 + 900_000,
          },
          SELFIE: {
            url: 'https://storage.test/sub-1/selfie',
            reference: 'ref-selfie',
            expiresAt: T0 + 900_000,
          },
        },
      },
      history: [...queued.history, { status: 'INITIATED', at: T0 + 1, source: 'worker' }],
    });
  });

  it('changes nothing when a submission is already there (replay, or a concurrent run)', () => {
    expectUnchanged(initiated, (r) => attachSubmission(r, created('sub-1'), T0 + 9));
    expectUnchanged(initiated, (r) => attachSubmission(r, created('sub-other'), T0 + 9));
  });

  it('changes nothing once the registration ended while the submission was created', () => {
    const timedOut = frozen(
      endRegistration(queued, { status: 'TIMED_OUT', source: 'worker' }, T0 + 1),
    );
    expectUnchanged(timedOut, (r) => attachSubmission(r, created('sub-1'), T0 + 2));
  });

  it('after a re-initiation, attaches the new submission without a second INITIATED entry', () => {
    const dropped = frozen(dropExpiredSubmission(initiated, 'sub-1'));
    const next = attachSubmission(dropped, created('sub-2'), T0 + 9);
    expect(next.submission?.submissionId).toBe('sub-2');
    expect(next.status).toBe('INITIATED');
    expect(next.history).toStrictEqual(dropped.history);
  });
});

describe('markDocumentUploaded', () => {
  it('marks one document of the current submission, with its time and size', () => {
    expect(ktpUploaded).toStrictEqual({
      ...initiated,
      submission: {
        ...initiated.submission,
        documents: {
          ...initiated.submission?.documents,
          KTP: { ...initiated.submission?.documents.KTP, uploadedAt: T0 + 2, bytes: 100 },
        },
      },
    });
  });

  it('changes nothing on a replay: the first upload time stays', () => {
    expectUnchanged(ktpUploaded, (r) =>
      markDocumentUploaded(r, { submissionId: 'sub-1', document: 'KTP', bytes: 100 }, T0 + 9),
    );
  });

  it('changes nothing for a submission that was replaced or dropped', () => {
    const input = { submissionId: 'sub-old', document: 'SELFIE', bytes: 1 } as const;
    expectUnchanged(ktpUploaded, (r) => markDocumentUploaded(r, input, T0 + 9));
    const dropped = frozen(dropExpiredSubmission(ktpUploaded, 'sub-1'));
    expectUnchanged(dropped, (r) =>
      markDocumentUploaded(r, { ...input, submissionId: 'sub-1' }, T0 + 9),
    );
  });
});

describe('markUploaded', () => {
  it('moves to UPLOADED once both documents are uploaded, and drops the upload URLs', () => {
    const documents = bothUploaded.submission?.documents;
    if (!documents) throw new Error('no documents');
    expect(uploaded).toStrictEqual({
      ...bothUploaded,
      submission: {
        ...bothUploaded.submission,
        documents: { KTP: { ...documents.KTP, url: '' }, SELFIE: { ...documents.SELFIE, url: '' } },
      },
      status: 'UPLOADED',
      history: [...bothUploaded.history, { status: 'UPLOADED', at: T0 + 4, source: 'worker' }],
    });
  });

  it('changes nothing on a replay', () => {
    expectUnchanged(uploaded, (r) => markUploaded(r, T0 + 9));
  });

  it('changes nothing while a document is missing or the submission is gone', () => {
    expectUnchanged(ktpUploaded, (r) => markUploaded(r, T0 + 9));
    expectUnchanged(frozen(dropExpiredSubmission(bothUploaded, 'sub-1')), (r) =>
      markUploaded(r, T0 + 9),
    );
  });
});

describe('dropExpiredSubmission', () => {
  it('drops the expired submission, remembers its id and starts the next generation', () => {
    expect(dropExpiredSubmission(ktpUploaded, 'sub-1')).toStrictEqual({
      ...ktpUploaded,
      submission: undefined,
      previousSubmissionIds: ['sub-1'],
      generation: 1,
    });
  });

  it('changes nothing on a replay, or for a submission already replaced', () => {
    const dropped = frozen(dropExpiredSubmission(initiated, 'sub-1'));
    expectUnchanged(dropped, (r) => dropExpiredSubmission(r, 'sub-1'));
    const replaced = frozen(attachSubmission(dropped, created('sub-2'), T0 + 9));
    expectUnchanged(replaced, (r) => dropExpiredSubmission(r, 'sub-1'));
  });
});

describe('claimConfirm', () => {
  it('claims the send with a lease when nobody has', () => {
    expect(claimed).toStrictEqual({
      ...uploaded,
      confirmingAt: T0 + 5,
      confirmingUntil: T0 + 5 + LEASE,
    });
  });

  it('takes over a claim seen as it was, never at the time read (coarse clock)', () => {
    const next = claimConfirm(claimed, T0 + 5, 'sub-1', T0 + 5, LEASE);
    expect(next).toStrictEqual({
      ...claimed,
      confirmingAt: T0 + 6,
      confirmingUntil: T0 + 6 + LEASE,
    });
  });

  it('changes nothing when the claim moved since it was read (replay, or another run)', () => {
    expectUnchanged(claimed, (r) => claimConfirm(r, undefined, 'sub-1', T0 + 9, LEASE));
    expectUnchanged(claimed, (r) => claimConfirm(r, T0 + 1, 'sub-1', T0 + 9, LEASE));
  });

  it('changes nothing once confirmed', () => {
    expectUnchanged(confirmed, (r) =>
      claimConfirm(r, confirmed.confirmingAt, 'sub-1', T0 + 9, LEASE),
    );
  });

  it('changes nothing on a record that no longer holds the submission, uploaded (Redis lost writes)', () => {
    expectUnchanged(uploaded, (r) => claimConfirm(r, undefined, 'sub-other', T0 + 9, LEASE));
    for (const behind of [queued, initiated, ktpUploaded])
      expectUnchanged(behind, (r) => claimConfirm(r, undefined, 'sub-1', T0 + 9, LEASE));
  });
});

describe('releaseConfirmClaim', () => {
  it('ends the lease of our claim and keeps the claim (the confirm may have arrived)', () => {
    expect(releaseConfirmClaim(claimed, T0 + 5)).toStrictEqual({
      ...claimed,
      confirmingUntil: undefined,
    });
  });

  it('changes nothing on a replay, or for a claim that is not ours any more', () => {
    expectUnchanged(frozen(releaseConfirmClaim(claimed, T0 + 5)), (r) =>
      releaseConfirmClaim(r, T0 + 5),
    );
    expectUnchanged(claimed, (r) => releaseConfirmClaim(r, T0 + 4));
  });
});

describe('noteUnownedSubmission', () => {
  it('notes the first sighting and its deadline, once per submission, only before one is attached', () => {
    const noted = frozen(noteUnownedSubmission(queued, 'sub-0', T0 + 100));
    expect(noted).toStrictEqual({
      ...queued,
      unownedSeen: { submissionId: 'sub-0', until: T0 + 100 },
    });
    expectUnchanged(noted, (r) => noteUnownedSubmission(r, 'sub-0', T0 + 900));
    expectUnchanged(initiated, (r) => noteUnownedSubmission(r, 'sub-0', T0 + 100));
    expect(noteUnownedSubmission(noted, 'sub-9', T0 + 200).unownedSeen).toEqual({
      submissionId: 'sub-9',
      until: T0 + 200,
    });
  });
});

describe('markConfirmed', () => {
  it('records the confirmation and the fallback poll, ends the lease, scrubs the request, moves to CONFIRMED', () => {
    expect(confirmed).toStrictEqual({
      ...claimed,
      sealedRequest: undefined,
      status: 'CONFIRMED',
      confirmedAt: T0 + 6,
      confirmingUntil: undefined,
      pollJobId: 'reg-1-poll-g0-1',
      pollDueAt: T0 + 60_000,
      history: [...claimed.history, { status: 'CONFIRMED', at: T0 + 6, source: 'worker' }],
    });
  });

  it('changes nothing on a replay', () => {
    expectUnchanged(confirmed, (r) => markConfirmed(r, 'sub-1', POLL_1, T0 + 9));
  });

  it('changes nothing for another submission than the record’s, or none', () => {
    expectUnchanged(claimed, (r) => markConfirmed(r, 'sub-0', POLL_1, T0 + 6));
    const dropped = frozen(dropExpiredSubmission(claimed, 'sub-1'));
    expectUnchanged(dropped, (r) => markConfirmed(r, 'sub-1', POLL_1, T0 + 6));
  });

  it('changes nothing on a record not UPLOADED (its latest writes were lost)', () => {
    expectUnchanged(initiated, (r) => markConfirmed(r, 'sub-1', POLL_1, T0 + 6));
    expectUnchanged(ktpUploaded, (r) => markConfirmed(r, 'sub-1', POLL_1, T0 + 6));
    expectUnchanged(queued, (r) => markConfirmed(r, 'sub-1', POLL_1, T0 + 6));
  });

  it('on a registration a callback already ended: keeps the time, no poll, status stays', () => {
    const early = frozen(
      endRegistration(
        claimed,
        { status: 'COMPLETED', source: 'callback', state: state('COMPLETED') },
        T0 + 6,
      ),
    );
    expect(markConfirmed(early, 'sub-1', POLL_1, T0 + 7)).toStrictEqual({
      ...early,
      confirmedAt: T0 + 7,
      confirmingUntil: undefined,
    });
  });
});

describe('recordPollAttempt', () => {
  it('records the attempt done and the next poll', () => {
    expect(recordPollAttempt(confirmed, 1, POLL_2)).toStrictEqual({
      ...confirmed,
      pollAttempts: 1,
      pollJobId: 'reg-1-poll-g0-2',
      pollDueAt: T0 + 61_000,
    });
  });

  it('changes nothing on a replay or an older attempt', () => {
    const polled = frozen(recordPollAttempt(confirmed, 2, POLL_3));
    expectUnchanged(polled, (r) => recordPollAttempt(r, 2, POLL_3));
    expectUnchanged(polled, (r) => recordPollAttempt(r, 1, POLL_2));
  });

  it('changes nothing once the registration ended', () => {
    expectUnchanged(ended, (r) => recordPollAttempt(r, 1, POLL_2));
  });
});

describe('applyProgress', () => {
  const inProgress = state('IN_PROGRESS', { result: null, reasonCode: null });
  const partial = state('PARTIALLY_COMPLETED', { result: 'VALID' });

  it('moves forward with Esign state, result and reason in the history', () => {
    expect(applyProgress(confirmed, partial, 'poll', T0 + 8)).toStrictEqual({
      ...confirmed,
      status: 'PARTIALLY_COMPLETED',
      lastState: partial,
      history: [
        ...confirmed.history,
        {
          status: 'PARTIALLY_COMPLETED',
          at: T0 + 8,
          source: 'poll',
          result: 'VALID',
          reasonCode: null,
        },
      ],
    });
  });

  it('changes nothing on a replayed, late or reordered report', () => {
    const progressed = frozen(applyProgress(confirmed, partial, 'callback', T0 + 8));
    expectUnchanged(progressed, (r) => applyProgress(r, partial, 'callback', T0 + 9));
    expectUnchanged(progressed, (r) => applyProgress(r, inProgress, 'callback', T0 + 9));
    expectUnchanged(ended, (r) => applyProgress(r, inProgress, 'poll', T0 + 9));
  });

  it('changes nothing before both documents are uploaded (Esign takes no confirm before)', () => {
    for (const early of [initiated, ktpUploaded])
      expectUnchanged(early, (r) => applyProgress(r, partial, 'callback', T0 + 9));
  });

  it('changes nothing for a replaced submission or a state that is no progress', () => {
    expectUnchanged(confirmed, (r) =>
      applyProgress(r, { ...inProgress, submissionId: 'sub-old' }, 'callback', T0 + 9),
    );
    for (const status of ['INITIATED', 'COMPLETED', 'ERROR'] as const)
      expectUnchanged(confirmed, (r) => applyProgress(r, state(status), 'callback', T0 + 9));
  });
});

describe('endRegistration', () => {
  it('writes the result, keeps the last state, removes the request, in one change', () => {
    const reported = state('COMPLETED', {
      result: 'VALID',
      reasonCode: 'OK',
      submissionDetails: {
        verificationResult: { nik: 'MATCH', selfie: undefined },
        registrationId: 'esign-reg',
        eligibleToActivate: true,
      },
    });
    const next = endRegistration(
      confirmed,
      { status: 'COMPLETED', source: 'callback', state: reported },
      T0 + 7,
    );
    const result = {
      formatVersion: RESULT_FORMAT_VERSION,
      registrationId: 'reg-1',
      attempt: 1,
      submissionId: 'sub-1',
      partnerUserId: 'user-1',
      partnerUserIdType: 'PHONE',
      status: 'COMPLETED',
      result: 'VALID',
      reasonCode: 'OK',
      verificationResult: { nik: 'MATCH' },
      esignRegistrationId: 'esign-reg',
      eligibleToActivate: true,
      onboardingCode: null,
      shouldSkipActivation: null,
      source: 'callback',
      error: null,
      enqueuedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0 + 7).toISOString(),
    };
    expect(next).toStrictEqual({
      ...confirmed,
      status: 'COMPLETED',
      result,
      error: undefined,
      lastState: reported,
      sealedRequest: undefined,
      history: [
        ...confirmed.history,
        { status: 'COMPLETED', at: T0 + 7, source: 'callback', result: 'VALID', reasonCode: 'OK' },
      ],
    });
  });

  it('ends with our own failure or timeout, no Esign state needed', () => {
    const error = { code: 'IMAGE_REJECTED', message: 'the KTP image is not a JPEG' };
    const failed = endRegistration(
      initiated,
      { status: 'FAILED', source: 'worker', error },
      T0 + 7,
    );
    expect(failed).toMatchObject({ status: 'FAILED', error, sealedRequest: undefined });
    expect(failed.result).toMatchObject({
      status: 'FAILED',
      submissionId: 'sub-1',
      result: null,
      error,
    });
    const timedOut = endRegistration(queued, { status: 'TIMED_OUT', source: 'poll' }, T0 + 7);
    expect(timedOut.result).toMatchObject({
      status: 'TIMED_OUT',
      submissionId: null,
      source: 'poll',
    });
    expect(timedOut.lastState).toBeUndefined();
  });

  it('changes nothing once ended: the first ending wins, a replay is ignored', () => {
    expectUnchanged(ended, (r) =>
      endRegistration(
        r,
        { status: 'COMPLETED', source: 'callback', state: state('COMPLETED', { result: 'VALID' }) },
        T0 + 9,
      ),
    );
    expectUnchanged(ended, (r) =>
      endRegistration(r, { status: 'TIMED_OUT', source: 'poll' }, T0 + 9),
    );
  });

  it('changes nothing for a final state about a replaced submission', () => {
    expectUnchanged(confirmed, (r) =>
      endRegistration(
        r,
        {
          status: 'ERROR',
          source: 'callback',
          state: { ...state('ERROR'), submissionId: 'sub-old' },
        },
        T0 + 9,
      ),
    );
  });
});

describe('markPublished', () => {
  it('flags the terminal history entry as published, and keeps only what status shows', () => {
    const next = markPublished(ended);
    const documents = ended.submission?.documents;
    expect(next).toStrictEqual({
      ...ended,
      history: [...ended.history.slice(0, -1), { ...ended.history.at(-1), published: true }],
      submission: ended.submission && {
        submissionId: ended.submission.submissionId,
        createdAt: ended.submission.createdAt,
        documents: {
          KTP: { uploadedAt: documents?.KTP.uploadedAt, bytes: documents?.KTP.bytes },
          SELFIE: { uploadedAt: documents?.SELFIE.uploadedAt, bytes: documents?.SELFIE.bytes },
        },
      },
      lastState: undefined,
      deadlineAt: undefined,
      deadlineInTimers: undefined,
      pollJobId: undefined,
      pollDueAt: undefined,
      confirmingAt: undefined,
      confirmingUntil: undefined,
    });
    expect(next.result).toBe(ended.result);
  });

  it('changes nothing on a replay, or when the current status has no entry', () => {
    expectUnchanged(frozen(markPublished(ended)), markPublished);
    expectUnchanged(frozen({ ...ended, history: ended.history.slice(0, -1) }), markPublished);
  });
});
