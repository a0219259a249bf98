import { isTerminal, type RegistrationRecord } from './record.ts';
import { buildResult, type Ending } from './result.ts';
import { compact, withoutUrls } from './scrub.ts';

/**
 * The transitions that end a registration: its deadline moved out for paused time, its
 * ending (result and scrub in one write), its publication. Pure, like every transition
 * (transitions.ts, which lists them all).
 */

/**
 * Move the deadline out by the time the queues were paused (`esign-worker pause`) during
 * this attempt: `pausedMs` is all of it so far, of which `pauseCreditMs` was credited before,
 * so a repeated run credits nothing twice. Guard: not ended, and more pause than credited.
 */
export function postponeDeadline(record: RegistrationRecord, pausedMs: number): RegistrationRecord {
  const credited = record.pauseCreditMs ?? 0;
  if (isTerminal(record.status) || record.deadlineAt === undefined || pausedMs <= credited)
    return record;
  return {
    ...record,
    deadlineAt: record.deadlineAt + (pausedMs - credited),
    pauseCreditMs: pausedMs,
  };
}

/**
 * End the registration: its result, and the PII scrubbed, in one write. Guard: it has not
 * ended yet (the first ending wins), and a state Esign reported is about our current
 * submission. Publishing, cancelling the poll and freeing the user's slot come after, outside.
 */
export function endRegistration(
  record: RegistrationRecord,
  ending: Ending,
  now: number,
): RegistrationRecord {
  if (isTerminal(record.status)) return record;
  if (ending.state && ending.state.submissionId !== record.submission?.submissionId) return record;
  const result = buildResult(record, ending, now);
  return {
    ...record,
    status: ending.status,
    result,
    error: ending.error,
    ...(ending.state && { lastState: ending.state }),
    ...(record.submission && { submission: withoutUrls(record.submission) }),
    sealedRequest: undefined,
    history: [
      ...record.history,
      {
        status: ending.status,
        at: now,
        source: ending.source,
        result: result.result,
        reasonCode: result.reasonCode,
      },
    ],
  };
}

/**
 * The result is on the results queue: flag the history entry of the current status, so a
 * later run does not publish it again, and keep only what `status` shows for the retention
 * (the result, the history, the submission's id and upload progress): the latest Esign state
 * (the result holds it), the upload references, the deadline and the poll's id go. Guard:
 * there is such an entry and it is not flagged.
 */
export function markPublished(record: RegistrationRecord): RegistrationRecord {
  const index = record.history.findLastIndex((entry) => entry.status === record.status);
  const last = record.history[index];
  if (!last || last.published) return record;
  const history = record.history.with(index, { ...last, published: true });
  return compact({ ...record, history });
}
