import { attemptOf, type RegistrationRecord } from './record.ts';

/**
 * Another attempt of an ended registration, under the same id (`esign-worker retry`). Only
 * what our side ended is retried — FAILED (a step failed for good) and TIMED_OUT (no answer in
 * time) —, never an answer Esign gave (COMPLETED, ERROR). The attempt starts from scratch: a
 * new submission, with the next generation's job ids, while the history, the earlier
 * submissions and the earlier attempts' published results stay as they were.
 */

/** Why this record cannot be retried now, or undefined when it can. */
export function retryRefusal(record: RegistrationRecord): string | undefined {
  // Its user and submissions are gone: a new attempt could not be told apart from a stranger's.
  if (record.erasedAt !== undefined)
    return `registration ${record.registrationId} was erased on request and cannot be retried: enqueue a new registration`;
  if (record.status !== 'FAILED' && record.status !== 'TIMED_OUT')
    return `registration ${record.registrationId} is ${record.status}: only FAILED or TIMED_OUT registrations are retried`;
  const ending = record.history.findLast((entry) => entry.status === record.status);
  // Its result must be out first: once retried, nothing would publish attempt n's result.
  if (!ending?.published)
    return `registration ${record.registrationId}: the result of attempt ${attemptOf(record)} is not published yet; retry again in a moment`;
  return undefined;
}

/** The request for the new attempt, sealed as enqueue seals it. */
export interface RetryInput {
  sealedRequest: string;
  imageKinds: RegistrationRecord['imageKinds'];
}

/**
 * retry: back to QUEUED as attempt n+1 with the request sealed again. Guard: `retryRefusal`
 * finds nothing (a second retry of the same attempt finds it QUEUED and changes nothing).
 * The current submission joins `previousSubmissionIds`, so neither its late callbacks nor the
 * poll's answer about it (adopt before create) are taken for the new attempt's.
 */
export function retryRegistration(
  record: RegistrationRecord,
  input: RetryInput,
  now: number,
): RegistrationRecord {
  if (retryRefusal(record) !== undefined) return record;
  const attempt = attemptOf(record) + 1;
  const generation = record.generation + 1;
  const ended = record.submission?.submissionId;
  return {
    ...record,
    status: 'QUEUED',
    attempt,
    // The attempt's own start: its result's enqueuedAt, and the time adopt-before-create
    // dates Esign's submissions against. The first enqueue stays first in the history.
    enqueuedAt: now,
    generation,
    attemptGeneration: generation,
    submission: undefined,
    previousSubmissionIds:
      ended === undefined || record.previousSubmissionIds.includes(ended)
        ? record.previousSubmissionIds
        : [...record.previousSubmissionIds, ended],
    confirmingAt: undefined,
    confirmingUntil: undefined,
    confirmedAt: undefined,
    pollAttempts: 0,
    pollJobId: undefined,
    pollDueAt: undefined,
    // Paused time is credited per attempt (its deadline is new): none credited yet.
    pauseCreditMs: undefined,
    lastState: undefined,
    result: undefined,
    error: undefined,
    sealedRequest: input.sealedRequest,
    imageKinds: input.imageKinds,
    history: [...record.history, { status: 'QUEUED', at: now, source: 'worker', attempt }],
  };
}
