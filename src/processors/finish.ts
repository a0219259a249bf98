import { jobIds } from '../lib/registration/jobs.ts';
import { attemptOf, isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import { endRegistration, markPublished, type Ending } from '../lib/registration/transitions.ts';
import type { StepContext } from './context.ts';
import { applyTransition } from './record-helpers.ts';

/**
 * End a registration: write the result and scrub the PII in one compare-and-set, then
 * publish, cancel a pending delayed job and free the user's in-flight slot. Every part is safe to
 * repeat, and `settle` finishes the job of an earlier run that crashed half-way.
 */
export async function finish(
  ctx: StepContext,
  registrationId: string,
  ending: Ending,
): Promise<void> {
  const { record, changed } = await applyTransition(ctx, registrationId, (current) =>
    endRegistration(current, ending, ctx.now()),
  );
  if (changed && record.result) {
    const { status, result, source } = record.result;
    ctx.metrics.registrationsFinished.inc({ status, result: result ?? 'NONE', source });
    ctx.metrics.timeToResult.observe({ status }, (ctx.now() - record.enqueuedAt) / 1000);
    ctx.logger.info(
      { registrationId, status, result, reasonCode: record.result.reasonCode, source },
      'registration finished',
    );
  }
  await settle(ctx, record, changed);
}

/**
 * For steps that find their registration already ended: finish the after-effects an earlier
 * run may have left undone (publish, cancel, free the slot). True when it was terminal.
 */
export async function settleIfTerminal(
  ctx: StepContext,
  record: RegistrationRecord,
): Promise<boolean> {
  if (!isTerminal(record.status)) return false;
  await settle(ctx, record);
  return true;
}

/**
 * The after-effects of a terminal record (images and any delayed poll or deadline job gone
 * too); a no-op once done.
 * `endedHere`: this run's write ended it, and the store's script dropped the images and freed
 * the user's slot with that write (store.ts); a record found ended may predate that.
 * Publishing is the last of them and is noted in the record: a record that says so had every
 * other one done by the run that published it (a lost write loses the latest ones first), so a
 * late or duplicate report on an ended registration costs no Redis call beyond its read.
 */
export async function settle(
  ctx: StepContext,
  record: RegistrationRecord,
  endedHere = false,
): Promise<void> {
  if (!record.result || isPublished(record)) return;
  // The timer went with the write that ended it (timers.ts). Only a poll or deadline the
  // release before set as a delayed job is still to cancel.
  if (record.pollJobId && record.pollDueAt === undefined)
    await ctx.cancelJob('poll', record.pollJobId);
  if (record.deadlineAt !== undefined && !record.deadlineInTimers)
    await ctx.cancelJob('complete', jobIds.deadline(record.registrationId, attemptOf(record)));
  if (!endedHere) {
    await ctx.imageStore.delete(record.registrationId);
    await ctx.store.slots.release(record);
  }
  await ctx.publishResult(record.result);
  await applyTransition(ctx, record.registrationId, markPublished);
}

/** The latest entry of the status: an earlier attempt (a retry) may have ended the same way. */
function isPublished(record: RegistrationRecord): boolean {
  return record.history.findLast((entry) => entry.status === record.status)?.published === true;
}
