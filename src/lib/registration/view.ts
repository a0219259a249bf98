import { attemptOf, type RegistrationRecord, type RegistrationResult } from './record.ts';

/**
 * A registration as shown to people and other services (`status`, `getRegistration`):
 * progress and result, never the request's PII (it is sealed in the record, and scrubbed
 * once the registration ends) nor the presigned URLs (they are credentials).
 */
export interface RegistrationView {
  registrationId: string;
  partnerUserId: string;
  partnerUserIdType: string;
  status: RegistrationRecord['status'];
  /** 1, then one more per retry. */
  attempt: number;
  result: string | null;
  reasonCode: string | null;
  submissionId: string | null;
  source: RegistrationResult['source'] | null;
  enqueuedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  userDetails: 'sealed' | 'scrubbed';
  images: { ktp: string; selfie: string };
  documents: Record<string, { uploaded: boolean; bytes: number | null }> | null;
  previousSubmissionIds: string[];
  confirmedAt: string | null;
  pollAttempts: number;
  /** When the next fallback poll is due, while one waits in the registration's timer. */
  nextPollAt: string | null;
  /** When it ends TIMED_OUT at the latest, while unfinished. */
  deadlineAt: string | null;
  history: {
    status: string;
    at: string;
    source: string;
    result?: string | null;
    reasonCode?: string | null;
    attempt?: number;
  }[];
  error: { code: string; message: string } | null;
  outcome: RegistrationResult | null;
  /** When its data was erased on request (`erase`): the record is a tombstone since. */
  erasedAt: string | null;
}

export function toView(record: RegistrationRecord): RegistrationView {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const documents = record.submission
    ? Object.fromEntries(
        Object.entries(record.submission.documents).map(([type, doc]) => [
          type,
          { uploaded: doc.uploadedAt !== undefined, bytes: doc.bytes ?? null },
        ]),
      )
    : null;
  return {
    registrationId: record.registrationId,
    partnerUserId: record.partnerUserId,
    partnerUserIdType: record.partnerUserIdType,
    status: record.status,
    attempt: attemptOf(record),
    result: record.result?.result ?? record.lastState?.result ?? null,
    reasonCode: record.result?.reasonCode ?? record.lastState?.reasonCode ?? null,
    submissionId: record.submission?.submissionId ?? record.result?.submissionId ?? null,
    source: record.result?.source ?? null,
    enqueuedAt: new Date(record.enqueuedAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    finishedAt: record.result?.finishedAt ?? null,
    userDetails: record.sealedRequest ? 'sealed' : 'scrubbed',
    images: record.imageKinds,
    documents,
    previousSubmissionIds: record.previousSubmissionIds,
    confirmedAt: iso(record.confirmedAt),
    pollAttempts: record.pollAttempts,
    nextPollAt: iso(record.pollDueAt),
    deadlineAt: iso(record.deadlineAt),
    history: record.history.map((entry) => ({
      status: entry.status,
      at: new Date(entry.at).toISOString(),
      source: entry.source,
      ...(entry.result !== undefined && { result: entry.result }),
      ...(entry.reasonCode !== undefined && { reasonCode: entry.reasonCode }),
      ...(entry.attempt !== undefined && { attempt: entry.attempt }),
    })),
    error: record.error ?? null,
    outcome: record.result ?? null,
    erasedAt: iso(record.erasedAt),
  };
}
