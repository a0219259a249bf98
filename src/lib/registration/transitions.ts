import { documentTypes, type DocumentType, type SubmissionState } from '../esign/schemas.ts';
import type { CreatedSubmission } from '../esign/types.ts';
import {
  isTerminal,
  statusRank,
  type HistoryEntry,
  type RegistrationRecord,
  type RegistrationStatus,
  type ResultSource,
  type SubmissionProgress,
} from './record.ts';
import { withoutUrls } from './scrub.ts';

export type { Ending, TerminalStatus } from './result.ts';
// The transitions that end a registration, in their own file; one list for the callers.
export { endRegistration, markPublished, postponeDeadline } from './ending-transitions.ts';

/**
 * Every change of a registration record, one named pure function each, in flow order.
 *
 * A transition takes the record as read (plus its input, plus `now` where it writes a time) and
 * returns the new record, or the very same object when its guard says the change does not
 * apply: the input is stale (another run got there first, the submission was replaced) or
 * replayed (BullMQ runs jobs at least once). It never mutates what it is given, so the store's
 * compare-and-set can run it again on a fresher record after a concurrent write, and it can be
 * tested without Redis. The store (`update`) writes whatever comes back unless it is the same
 * object; `version` and `updatedAt` are the store's business, not a transition's.
 */
export type Transition = (record: RegistrationRecord) => RegistrationRecord;

/** Move the status forward only, recording the step; the same record when it would not move. */
function advance(
  record: RegistrationRecord,
  status: RegistrationStatus,
  at: number,
  source: ResultSource = 'worker',
  details: Pick<HistoryEntry, 'result' | 'reasonCode'> = {},
): RegistrationRecord {
  if (statusRank(status) <= statusRank(record.status)) return record;
  return { ...record, status, history: [...record.history, { status, at, source, ...details }] };
}

/**
 * initiate: keep the submission Esign just created (→ INITIATED). Guard: the record has no
 * submission yet; a run that finds one (a concurrent run's, or a replay) changes nothing; nor
 * does one that finds the registration ended meanwhile (its deadline, an erase): an ended
 * record takes no new submission or upload URLs.
 */
export function attachSubmission(
  record: RegistrationRecord,
  created: Pick<CreatedSubmission, 'submissionId' | 'documents'>,
  now: number,
): RegistrationRecord {
  if (record.submission || isTerminal(record.status)) return record;
  // Only what later steps need: the URL, its reference and expiry, never the raw answer.
  const documents = Object.fromEntries(
    documentTypes.map((type) => {
      const { url, reference, expiresAt } = created.documents[type];
      return [type, { url, reference, expiresAt }];
    }),
  ) as SubmissionProgress['documents'];
  const submission = { submissionId: created.submissionId, createdAt: now, documents };
  return advance({ ...record, submission }, 'INITIATED', now);
}

/**
 * initiate, upload: Esign has `state.submissionId` past INITIATED, so it took a confirm for it,
 * and both documents before that (it refuses a confirm without them): the record catches up
 * (→ CONFIRMED, source poll, `poll` the fallback poll). In initiate it is a submission a
 * lost write left behind, which becomes this registration's; its upload URLs were in the lost
 * answer and are not needed any more, so none is kept. In upload it is the record's own
 * submission, whose confirm landed though the record missed it. Guard: Esign's state is past
 * INITIATED, the record has no submission or this one, and no confirmation yet.
 */
export function adoptSubmission(
  record: RegistrationRecord,
  state: SubmissionState,
  poll: PendingPoll,
  now: number,
): RegistrationRecord {
  const current = record.submission;
  if (state.status === 'INITIATED' || record.confirmedAt !== undefined) return record;
  if (current && current.submissionId !== state.submissionId) return record;
  const documents = Object.fromEntries(
    documentTypes.map((type) => {
      const doc = current?.documents[type] ?? { url: '', reference: '', expiresAt: 0 };
      return [type, { ...doc, uploadedAt: doc.uploadedAt ?? now }];
    }),
  ) as SubmissionProgress['documents'];
  const submission = {
    submissionId: state.submissionId,
    createdAt: current?.createdAt ?? now,
    documents,
  };
  const adopted: RegistrationRecord = {
    ...record,
    submission: withoutUrls(submission),
    confirmedAt: now,
    confirmingUntil: undefined,
    sealedRequest: undefined,
    ...(!isTerminal(record.status) && { pollJobId: poll.jobId, pollDueAt: poll.dueAt }),
  };
  return advance(adopted, 'CONFIRMED', now, 'poll');
}

/**
 * initiate: Esign has an unconfirmed submission no record holds; creating waits until `until`
 * (a confirm of ours may still reach it). Guard: no submission yet, and this one not noted
 * already (the first sighting's deadline stands).
 */
export function noteUnownedSubmission(
  record: RegistrationRecord,
  submissionId: string,
  until: number,
): RegistrationRecord {
  if (record.submission || record.unownedSeen?.submissionId === submissionId) return record;
  return { ...record, unownedSeen: { submissionId, until } };
}

export interface UploadedDocument {
  submissionId: string;
  document: DocumentType;
  bytes: number | undefined;
}

/**
 * upload: storage accepted one document. Guard: it is for the current submission (not one
 * replaced after its URLs expired) and not marked yet, so the first upload's time stays.
 */
export function markDocumentUploaded(
  record: RegistrationRecord,
  uploaded: UploadedDocument,
  now: number,
): RegistrationRecord {
  const submission = record.submission;
  const doc = submission?.documents[uploaded.document];
  if (!submission || submission.submissionId !== uploaded.submissionId) return record;
  if (!doc || doc.uploadedAt !== undefined) return record;
  const documents = {
    ...submission.documents,
    [uploaded.document]: { ...doc, uploadedAt: now, bytes: uploaded.bytes },
  };
  return { ...record, submission: { ...submission, documents } };
}

/**
 * upload: both documents are with storage (→ UPLOADED). Guard: they really are, for the
 * current submission, and the status has not moved past it.
 */
export function markUploaded(record: RegistrationRecord, now: number): RegistrationRecord {
  const submission = record.submission;
  const documents = submission?.documents;
  if (!documents || documentTypes.some((type) => documents[type].uploadedAt === undefined))
    return record;
  const advanced = advance(record, 'UPLOADED', now);
  if (advanced === record) return record;
  // The presigned URLs are credentials, and nothing uses them any more.
  return { ...advanced, submission: withoutUrls(submission) };
}

/**
 * upload: an upload URL expired; drop its submission so initiate creates a new one, under the
 * next generation (fresh job ids). Guard: that submission is still the current one, so a
 * replayed report about an already replaced submission does not drop its successor.
 * MAX_REINITIATIONS is checked by the caller, which turns it into a permanent error.
 */
export function dropExpiredSubmission(
  record: RegistrationRecord,
  expiredSubmissionId: string,
): RegistrationRecord {
  if (record.submission?.submissionId !== expiredSubmissionId) return record;
  return {
    ...record,
    submission: undefined,
    previousSubmissionIds: [...record.previousSubmissionIds, expiredSubmissionId],
    generation: record.generation + 1,
  };
}

/**
 * confirm: claim the one send of the confirm of `submissionId`, with a lease while the call may
 * be on its way. Guard: the claim is still as this run read it (`seenClaim`, undefined for
 * none), nothing is confirmed, and the record is where a confirm of that submission can come
 * from: it is the current submission, both documents uploaded. BullMQ can run a job twice at
 * once (a lapsed lock); without the claim both runs would confirm. A run that read the record
 * before Redis lost its latest writes may find it without that submission: it must not
 * confirm a submission the record no longer holds while another run makes a new one. The new
 * claim time is never the one read, even on a coarse or fixed clock, or a second run that
 * read the new claim could claim it again.
 */
export function claimConfirm(
  record: RegistrationRecord,
  seenClaim: number | undefined,
  submissionId: string,
  now: number,
  leaseMs: number,
): RegistrationRecord {
  if (record.confirmingAt !== seenClaim || record.confirmedAt !== undefined) return record;
  if (record.submission?.submissionId !== submissionId) return record;
  if (statusRank(record.status) < statusRank('UPLOADED')) return record;
  const confirmingAt = Math.max(now, (seenClaim ?? 0) + 1);
  return { ...record, confirmingAt, confirmingUntil: confirmingAt + leaseMs };
}

/**
 * confirm: Esign answered the call with an error status, so the request is not on its way any
 * more: end the lease early and a retry goes straight to asking Esign. (Without an answer — a
 * timeout, a network error, an abort — the request may still arrive and the lease must stand.)
 * `confirmingAt` stays. Guard: the claim is still ours (`claim`) and its lease still set.
 */
export function releaseConfirmClaim(record: RegistrationRecord, claim: number): RegistrationRecord {
  if (record.confirmingAt !== claim || record.confirmingUntil === undefined) return record;
  return { ...record, confirmingUntil: undefined };
}

/**
 * confirm: Esign has the confirm of `submissionId` (→ CONFIRMED) and `poll` is the
 * fallback poll, due unless a callback ends the registration first. Guard: not confirmed yet, and the record
 * is where a confirm can come from: this very submission, both documents uploaded (UPLOADED or
 * later). A record that is not (Redis lost its latest writes while the call was on its way, or
 * the submission was replaced) is left alone: the steps it is at find Esign's state themselves.
 * A callback may have ended the registration meanwhile: the confirmation time is still kept,
 * but no poll is recorded and the status stays terminal.
 */
export function markConfirmed(
  record: RegistrationRecord,
  submissionId: string,
  poll: PendingPoll,
  now: number,
): RegistrationRecord {
  if (record.confirmedAt !== undefined) return record;
  if (record.submission?.submissionId !== submissionId) return record;
  if (statusRank(record.status) < statusRank('UPLOADED')) return record;
  const confirmed: RegistrationRecord = {
    ...record,
    confirmedAt: now,
    confirmingUntil: undefined,
    sealedRequest: undefined,
    ...(!isTerminal(record.status) && { pollJobId: poll.jobId, pollDueAt: poll.dueAt }),
  };
  return advance(confirmed, 'CONFIRMED', now);
}

/**
 * poll: poll number `attempt` is done and `next` is the one after it (its timer is set with
 * this write: timers.ts). Guard: not ended, and no later attempt recorded already.
 */
export function recordPollAttempt(
  record: RegistrationRecord,
  attempt: number,
  next: PendingPoll,
): RegistrationRecord {
  if (isTerminal(record.status) || record.pollAttempts >= attempt) return record;
  return { ...record, pollAttempts: attempt, pollJobId: next.jobId, pollDueAt: next.dueAt };
}

/** The fallback poll a registration waits on: its job id, and when it is due (timers.ts). */
export interface PendingPoll {
  jobId: string;
  dueAt: number;
}

/** The record status a non-final Esign state moves to; undefined when it is no progress. */
function progressStatus(state: SubmissionState): RegistrationStatus | undefined {
  switch (state.status) {
    case 'IN_PROGRESS':
      return 'IN_PROGRESS';
    case 'PARTIALLY_COMPLETED':
      return 'PARTIALLY_COMPLETED';
    case 'INITIATED':
    case 'COMPLETED':
    case 'ERROR':
      return undefined;
  }
}

/**
 * complete, the listener: Esign reported progress (IN_PROGRESS, or PARTIALLY_COMPLETED, which
 * still waits for COMPLETED). Guard: the report is about our current submission and moves the
 * status forward, so late, duplicate or reordered reports change nothing; and both documents
 * are uploaded (Esign takes no confirm before that, so an earlier report is not Esign's to
 * make, and moving past UPLOADED would drop the images the upload still needs). Final states
 * end the registration with `endRegistration` instead.
 */
export function applyProgress(
  record: RegistrationRecord,
  state: SubmissionState,
  source: ResultSource,
  now: number,
): RegistrationRecord {
  const status = progressStatus(state);
  if (!status || state.submissionId !== record.submission?.submissionId) return record;
  if (statusRank(record.status) < statusRank('UPLOADED')) return record;
  if (statusRank(status) <= statusRank(record.status)) return record;
  return advance({ ...record, lastState: state }, status, now, source, {
    result: state.result ?? null,
    reasonCode: state.reasonCode ?? null,
  });
}
