import type { DocumentType, SubmissionState } from '../esign/schemas.ts';
import type { RECORD_FORMAT_VERSION, RESULT_FORMAT_VERSION } from './format.ts';

/**
 * The registration record: the one source of truth for a registration. Steps read it to
 * skip work already done; statuses only move forward (see `statusRank`).
 */

export const registrationStatuses = [
  'QUEUED', // accepted, nothing sent to Esign yet
  'INITIATED', // submission created, URLs known
  'UPLOADED', // both images uploaded
  'CONFIRMED', // confirm accepted: Esign processes asynchronously
  'IN_PROGRESS',
  'PARTIALLY_COMPLETED', // verified; certificate not ready yet
  'COMPLETED', // terminal: VALID (certificate) or INVALID (rejected)
  'ERROR', // terminal: Esign reported a technical failure
  'TIMED_OUT', // terminal: no result from callback or poll within POLL_GIVE_UP_MS
  'FAILED', // terminal: a step failed for good on our side (bad image, rejected request, …)
] as const;
export type RegistrationStatus = (typeof registrationStatuses)[number];

/** The statuses a registration ends in: the one list the result contract is typed from. */
export const endStatuses = [
  'COMPLETED',
  'ERROR',
  'TIMED_OUT',
  'FAILED',
] as const satisfies readonly RegistrationStatus[];
export type EndStatus = (typeof endStatuses)[number];
export const terminalStatuses: ReadonlySet<RegistrationStatus> = new Set(endStatuses);

const rank: Record<RegistrationStatus, number> = {
  QUEUED: 0,
  INITIATED: 1,
  UPLOADED: 2,
  CONFIRMED: 3,
  IN_PROGRESS: 4,
  PARTIALLY_COMPLETED: 5,
  COMPLETED: 6,
  ERROR: 6,
  TIMED_OUT: 6,
  FAILED: 6,
};

export function statusRank(status: RegistrationStatus): number {
  return rank[status];
}

export function isTerminal(status: RegistrationStatus): boolean {
  return terminalStatuses.has(status);
}

export type ResultSource = 'callback' | 'poll' | 'worker';

/**
 * One document's upload URL and progress. The presigned URL is a credential (valid for days):
 * it is kept sealed (PII cipher, owner = the registration id) and dropped ('') once both
 * uploads are done. Adopted submissions keep no URL: '' and 0.
 */
export interface StoredDocument {
  /** The sealed URL, or '' when there is none (any more). Absent once the registration ended. */
  url?: string | undefined;
  /** A plaintext URL a format-1 record held (read for one release, never written). */
  legacyUrl?: string | undefined;
  /** Absent once the registration ended, with `expiresAt`: only the progress is kept. */
  reference?: string | undefined;
  expiresAt?: number | undefined;
  uploadedAt?: number | undefined;
  bytes?: number | undefined;
}

export interface SubmissionProgress {
  submissionId: string;
  createdAt: number;
  documents: Record<DocumentType, StoredDocument>;
}

/** What the enqueuing service receives on the `results` queue (documented in docs/results.md). */
export interface RegistrationResult {
  /** The shape of this object (1); absent on results published before it was versioned. */
  formatVersion: typeof RESULT_FORMAT_VERSION;
  registrationId: string;
  /**
   * Which run of the registration this is the result of: 1, then one more per `retry`.
   * Absent on results published before retries existed: read it with `attemptOf`.
   */
  attempt?: number | undefined;
  submissionId: string | null;
  partnerUserId: string;
  partnerUserIdType: string;
  status: EndStatus;
  result: string | null;
  reasonCode: string | null;
  verificationResult: Record<string, string> | null;
  esignRegistrationId: string | null;
  eligibleToActivate: boolean | null;
  onboardingCode: string | null;
  shouldSkipActivation: boolean | null;
  source: ResultSource;
  /** Our error when status is FAILED: a stable code and a message without PII. */
  error: { code: string; message: string } | null;
  enqueuedAt: string;
  finishedAt: string;
}

export interface HistoryEntry {
  status: RegistrationStatus;
  at: number;
  source: ResultSource;
  result?: string | null | undefined;
  reasonCode?: string | null | undefined;
  /** On the terminal entry: the result is on the results queue. */
  published?: boolean | undefined;
  /** On the QUEUED entry that starts a retry: the attempt it starts (2, 3, …). */
  attempt?: number | undefined;
}

export interface RegistrationRecord {
  /** The stored shape (format.ts); the store writes the current one. Not `version`. */
  formatVersion: typeof RECORD_FORMAT_VERSION;
  registrationId: string;
  partnerUserId: string;
  partnerUserIdType: string;
  status: RegistrationStatus;
  /** Bumped on every write; the store's compare-and-set uses it. */
  version: number;
  enqueuedAt: number;
  updatedAt: number;
  /** How many submissions were started before the current one (fresh job ids for each). */
  generation: number;
  /**
   * The run of this registration: absent (1) until a `retry` starts attempt 2, 3, …; each
   * attempt publishes its own result. Added in format 1 without a format change: a record
   * without it is attempt 1, and nothing older reads it.
   */
  attempt?: number | undefined;
  /** The generation the current attempt started at (absent: 0): MAX_REINITIATIONS counts from it. */
  attemptGeneration?: number | undefined;
  submission?: SubmissionProgress | undefined;
  previousSubmissionIds: string[];
  /** Set just before the confirm call; with no confirmedAt it means "maybe sent". */
  confirmingAt?: number | undefined;
  /** While a confirm call may still be on its way (its claim's lease); cleared when it ends. */
  confirmingUntil?: number | undefined;
  confirmedAt?: number | undefined;
  /**
   * An unconfirmed submission at Esign that no record holds, seen before creating one, and
   * until when creating waits: a confirm of ours may still be on its way to it (Redis lost the
   * writes that knew it). See processors/adopt.ts.
   */
  unownedSeen?: { submissionId: string; until: number } | undefined;
  pollAttempts: number;
  pollJobId?: string | undefined;
  /**
   * When the pending poll (`pollJobId`) is due. Set by releases whose polls wait in the
   * registration timers (timers.ts) instead of as delayed jobs; absent on records whose
   * pending poll is a delayed job (written before). Added without a format change: optional.
   */
  pollDueAt?: number | undefined;
  /** The latest state Esign reported (callback or poll); PII-free. */
  lastState?: SubmissionState | undefined;
  history: HistoryEntry[];
  result?: RegistrationResult | undefined;
  error?: { code: string; message: string } | undefined;
  /**
   * When the registration ends TIMED_OUT if nothing ended it before (a delayed `complete`
   * job); its keys expire KEY_GRACE_MS after it. Absent on records of format 1.
   */
  deadlineAt?: number | undefined;
  /**
   * The deadline waits in the registration timers (timers.ts), not as a delayed `complete` job
   * (records of this attempt written before: absent, and ending one removes that job).
   */
  deadlineInTimers?: true | undefined;
  /** Paused time (`esign-worker pause`) already added to `deadlineAt` in this attempt. */
  pauseCreditMs?: number | undefined;
  /**
   * The request, sealed by the PII cipher (owner = the registration id); inline images are
   * not in it (`{ stored }`: image-store.ts). Deleted once confirm succeeded or the
   * registration ended.
   */
  sealedRequest?: string | undefined;
  imageKinds: { ktp: string; selfie: string };
  /** When its data was erased on request: the record is a tombstone (scrub.ts, eraseRecord). */
  erasedAt?: number | undefined;
}

/** The attempt of a record or result; those written before retries existed are attempt 1. */
export function attemptOf(value: { attempt?: number | undefined }): number {
  return value.attempt ?? 1;
}
