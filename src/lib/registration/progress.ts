import type { SubmissionState } from '../esign/schemas.ts';
import { isTerminal, type RegistrationRecord, type ResultSource } from './record.ts';
import type { RegistrationStore } from './store.ts';
import { applyProgress } from './transitions.ts';

/**
 * What a report of progress did: `progressed` (the record moved forward), `unchanged` (a
 * duplicate, one a later report overtook, or a registration already ended), `not-ours` (about
 * a submission the registration replaced: expired upload URLs), `missing` (no record).
 */
export type ProgressOutcome = 'progressed' | 'unchanged' | 'not-ours' | 'missing';

/** Whether a report ends the registration (COMPLETED, ERROR) rather than moves it forward. */
export function isFinalReport(
  state: SubmissionState,
): state is SubmissionState & { status: 'COMPLETED' | 'ERROR' } {
  return state.status === 'COMPLETED' || state.status === 'ERROR';
}

/**
 * Apply a report that does not end the registration (IN_PROGRESS, PARTIALLY_COMPLETED) to its
 * record: one read, and a compare-and-set only when it moves the status forward (statuses only
 * move forward, so a report the record has already outgrown costs no write). Safe to repeat
 * and to run beside any step: `applyProgress` guards every write. Used by the `complete` step
 * (a poll's report) and by the callback listener, which records progress itself instead of
 * queueing a job for it (docs/design.md, "Results: callback first, poll as fallback").
 */
export async function recordProgress(
  store: RegistrationStore,
  registrationId: string,
  state: SubmissionState,
  source: ResultSource,
  now: () => number,
  /** The record as the caller has just read it, if it has: no second read. */
  known?: RegistrationRecord,
): Promise<ProgressOutcome> {
  const record = known ?? (await store.get(registrationId));
  if (!record) return 'missing';
  if (isTerminal(record.status)) return 'unchanged';
  if (state.submissionId !== record.submission?.submissionId) return 'not-ours';
  if (applyProgress(record, state, source, now()) === record) return 'unchanged';
  let changed = false;
  await store.update(registrationId, (current) => {
    const next = applyProgress(current, state, source, now());
    changed = next !== current;
    return changed ? next : undefined;
  });
  return changed ? 'progressed' : 'unchanged';
}
