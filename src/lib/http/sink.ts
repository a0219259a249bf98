import type { SubmissionState } from '../esign/schemas.ts';

/**
 * What the callback listener hands a valid callback to. The pipeline implements it (a
 * Redis-backed `complete` job producer); the listener only depends on this contract, so it
 * can be tested without the pipeline and the pipeline without HTTP.
 */
export type SinkOutcome = 'accepted' | 'duplicate' | 'unknown';
export interface CallbackSink {
  /** Turn a valid callback into a completion job keyed by (submissionId, status, result).
   *  'unknown' = no registration has this submissionId (nothing enqueued).
   *  Throws when Redis is unavailable. */
  accept(state: SubmissionState): Promise<SinkOutcome>;
}
