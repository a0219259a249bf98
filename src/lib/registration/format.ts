import { isWorkerError, permanent } from '../errors.ts';
import { readFormat, storedFormat } from '../format.ts';
import { checkSealedFormat } from '../pii-cipher.ts';
import type { JobData, StepName } from './jobs.ts';
import type { RegistrationRecord, RegistrationResult } from './record.ts';

/**
 * The stored formats of the registration's values: the record, the job payloads and the
 * published result (the scheme: ../format.ts; the list of every stored value:
 * docs/design.md, "Stored formats"). Format 0 is what releases before versioning wrote: the
 * same fields as format 1, without the markers. Jobs and results read formats 0 and 1 and
 * write 1. The record reads 1 and 2 and writes 2: format 2 keeps upload URLs sealed (a
 * format-1 plaintext URL becomes `legacyUrl`), inline images out of the record, a deadline,
 * and writes `version` first, so the compare-and-set reads it without decoding the record.
 */

export const RECORD_FORMAT_VERSION = 2;
export const JOB_FORMAT_VERSION = 1;
/** Public: the `formatVersion` of every result on the `results` queue (docs/results.md). */
export const RESULT_FORMAT_VERSION = 1;

const unchanged = (value: Record<string, unknown>) => value;

export const resultFormat = storedFormat({
  name: 'registration result',
  marker: 'formatVersion',
  current: RESULT_FORMAT_VERSION,
  oldest: 0,
  upgrades: { 0: unchanged },
});

export const recordFormat = storedFormat({
  name: 'registration record',
  marker: 'formatVersion',
  current: RECORD_FORMAT_VERSION,
  oldest: 1,
  upgrades: { 1: upgradeRecord1 },
});

/** Format 1 held upload URLs in plaintext: kept as `legacyUrl` until uploads are done. */
function upgradeRecord1(record: Record<string, unknown>): Record<string, unknown> {
  const submission = record.submission as
    { documents?: Record<string, Record<string, unknown>> } | undefined;
  if (!submission?.documents) return record;
  const documents = Object.fromEntries(
    Object.entries(submission.documents).map(([type, doc]) => [
      type,
      { ...doc, url: '', ...(doc.url ? { legacyUrl: doc.url } : {}) },
    ]),
  );
  return { ...record, submission: { ...submission, documents } };
}

/** One version for the payloads of every queue: they are declared together (jobs.ts). */
export const jobFormat = storedFormat({
  name: 'job payload',
  marker: 'v',
  current: JOB_FORMAT_VERSION,
  oldest: 0,
  upgrades: { 0: unchanged },
});

export function readResult(raw: unknown): RegistrationResult {
  return readFormat(resultFormat, raw) as unknown as RegistrationResult;
}

/**
 * The record as stored (JSON text) → the record in the current format, or a refusal:
 * FORMAT_TOO_NEW (retryable) for a record, or a sealed request in it, from a newer release;
 * FORMAT_UNSUPPORTED (permanent) for one nothing in this release can read.
 */
export function readRecord(text: string): RegistrationRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text, which may hold PII.
    throw permanent('FORMAT_UNSUPPORTED', 'registration record is not JSON');
  }
  let current: Record<string, unknown>;
  try {
    current = readFormat(recordFormat, parsed);
  } catch (error) {
    if (isWorkerError(error)) throw error;
    // An upgrade that met a shape it cannot take (a damaged record): named by kind only.
    throw permanent(
      'FORMAT_UNSUPPORTED',
      `registration record cannot be upgraded (${errorName(error)})`,
    );
  }
  const record = withFullResult(current as unknown as RegistrationRecord);
  // Checked here, not when a step opens it: a step must never take a newer envelope for a
  // broken one (that fails the registration for good).
  if (typeof record.sealedRequest === 'string') checkSealedFormat(record.sealedRequest);
  return record;
}

/**
 * The record as it is written: always in the current format, `version` first, so the
 * store's scripts find it with an anchored match instead of decoding the whole value.
 */
export function writeRecord(record: RegistrationRecord): string {
  const { version, ...rest } = record;
  // The result's copies of the record's own fields are not stored twice (withFullResult).
  const result = record.result && {
    ...record.result,
    registrationId: undefined,
    partnerUserId: undefined,
    partnerUserIdType: undefined,
    ...(record.result.submissionId === record.submission?.submissionId && {
      submissionId: undefined,
    }),
  };
  return JSON.stringify({ version, ...rest, result, formatVersion: RECORD_FORMAT_VERSION });
}

/** The stored result with the fields it shares with its record put back (as published). */
function withFullResult(record: RegistrationRecord): RegistrationRecord {
  if (!record.result) return record;
  const { registrationId, partnerUserId, partnerUserIdType } = record;
  // A submission id left out was the record's own (writeRecord).
  const submissionId = record.result.submissionId ?? record.submission?.submissionId ?? null;
  return {
    ...record,
    result: { ...record.result, registrationId, partnerUserId, partnerUserIdType, submissionId },
  };
}

/** What BullMQ stores as a job's data: the payload and its format version. */
export type StoredJobData<S extends StepName = StepName> = JobData<S> & {
  v: typeof JOB_FORMAT_VERSION;
};

export function writeJobData<D extends JobData<StepName>>(
  data: D,
): D & { v: typeof JOB_FORMAT_VERSION } {
  return { ...data, v: JOB_FORMAT_VERSION };
}

export function readJobData<S extends StepName>(raw: unknown): StoredJobData<S> {
  return readFormat(jobFormat, raw) as unknown as StoredJobData<S>;
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : typeof error);
