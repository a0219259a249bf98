import { documentTypes } from '../esign/schemas.ts';
import { isTerminal, type RegistrationRecord, type SubmissionProgress } from './record.ts';

/**
 * What leaves a registration record, and when (docs/data-protection.md): the upload URLs once
 * both uploads are done, everything `status` does not show once the result is published, and
 * everything but a tombstone when erasure is asked for. Pure functions, like the transitions.
 */

/** The submission with its upload URLs dropped (reference, expiry and progress kept). */
export function withoutUrls(submission: SubmissionProgress): SubmissionProgress {
  const documents = Object.fromEntries(
    documentTypes.map((type) => {
      const doc = { ...submission.documents[type], url: '' };
      delete doc.legacyUrl;
      return [type, doc];
    }),
  ) as SubmissionProgress['documents'];
  return { ...submission, documents };
}

/** A finished record, small: a few hundred bytes beside its result. */
export function compact(record: RegistrationRecord): RegistrationRecord {
  const dropped = {
    lastState: undefined,
    deadlineAt: undefined,
    deadlineInTimers: undefined,
    pollJobId: undefined,
    pollDueAt: undefined,
    confirmingAt: undefined,
    confirmingUntil: undefined,
  };
  const submission = record.submission && {
    submissionId: record.submission.submissionId,
    createdAt: record.submission.createdAt,
    documents: Object.fromEntries(
      documentTypes.map((type) => {
        const { uploadedAt, bytes } = record.submission?.documents[type] ?? {};
        return [type, { uploadedAt, bytes }];
      }),
    ) as SubmissionProgress['documents'],
  };
  // Undefined fields are not written (JSON).
  return { ...record, ...dropped, submission };
}

/**
 * Erasure on request (`esign-worker erase`): of an ended registration only the tombstone is
 * kept, so its id stays known (`status` answers, a re-enqueue of the id does not start it
 * again): id, status, result code and reason, error code, the times of its statuses. Gone:
 * the partner user id, the submission ids, Esign's verification details, the sealed request.
 */
export function eraseRecord(record: RegistrationRecord, now: number): RegistrationRecord {
  if (!isTerminal(record.status)) throw new Error('only an ended registration is erased');
  const published = compact(record);
  return {
    ...published,
    partnerUserId: '',
    submission: undefined,
    previousSubmissionIds: [],
    sealedRequest: undefined,
    erasedAt: now,
    history: record.history.map(({ status, at, source, published: flag }) => ({
      status,
      at,
      source,
      ...(flag && { published: flag }),
    })),
    result: record.result && {
      ...record.result,
      partnerUserId: '',
      submissionId: null,
      verificationResult: null,
      esignRegistrationId: null,
      eligibleToActivate: null,
      onboardingCode: null,
      shouldSkipActivation: null,
    },
  };
}
