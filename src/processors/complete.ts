import { attemptOf, isTerminal } from '../lib/registration/record.ts';
import type { CompleteJobData } from '../lib/registration/jobs.ts';
import { isFinalReport, recordProgress } from '../lib/registration/progress.ts';
import { done, waitUntil, type StepContext, type StepOutcome } from './context.ts';
import { postponedDeadline } from './deadline.ts';
import { finish, settle } from './finish.ts';

/** The least wait before a deadline moved out by paused time is looked at again. */
const RECHECK_FLOOR_MS = 1_000;

/**
 * Apply what Esign reported (by callback or poll) or our own timeout. Statuses only move
 * forward: a late or duplicate report changes nothing. PARTIALLY_COMPLETED + VALID is
 * progress; COMPLETED and ERROR end the registration.
 */
export async function complete(data: CompleteJobData, ctx: StepContext): Promise<StepOutcome> {
  const record = await ctx.store.require(data.registrationId);
  if (isTerminal(record.status)) {
    await settle(ctx, record); // finishes an earlier run that stopped half-way
    return done;
  }
  if (data.timedOut) {
    // Another attempt's timeout (a job left from before a retry) is not this attempt's.
    if (data.attempt !== undefined && data.attempt !== attemptOf(record)) return done;
    // The deadline, early: it moved out (paused time), another process's clock is ahead, or
    // the job is a leftover of the release before, which names no attempt. It runs again at
    // the deadline, using no attempt (a timer's add of the same id meanwhile is a no-op).
    if (
      data.source === 'worker' &&
      record.deadlineAt !== undefined &&
      ctx.now() < record.deadlineAt
    )
      return waitUntil(record.deadlineAt);
    // Moved out by the paused time: look again then, and not sooner than a second from now. A
    // pause still open when the deadline came moves it out only by what has passed of the
    // pause so far, again at each look: without the floor, a pause that began just before the
    // deadline would have this job look again in a tight loop for as long as it lasts.
    const later = await postponedDeadline(ctx, record);
    if (later !== undefined) return waitUntil(Math.max(later, ctx.now() + RECHECK_FLOOR_MS));
    await finish(ctx, record.registrationId, { status: 'TIMED_OUT', source: data.source });
    return done;
  }
  const state = data.state;
  if (!state) return done;

  if (state.submissionId !== record.submission?.submissionId) {
    // A report on a submission we replaced (expired URLs): not ours any more.
    ctx.logger.warn(
      { registrationId: record.registrationId, submissionId: state.submissionId },
      'report for a replaced submission ignored',
    );
    return done;
  }

  if (isFinalReport(state)) {
    await finish(ctx, record.registrationId, { status: state.status, source: data.source, state });
    return done;
  }

  const { registrationId } = record;
  const outcome = await recordProgress(
    ctx.store,
    registrationId,
    state,
    data.source,
    ctx.now,
    record,
  );
  if (outcome === 'progressed')
    ctx.logger.info(
      { registrationId, status: state.status, result: state.result, source: data.source },
      'registration progressed',
    );
  return done;
}
