import { isTerminal } from '../lib/registration/record.ts';
import type { CompleteJobData } from '../lib/registration/jobs.ts';
import { applyProgress } from '../lib/registration/transitions.ts';
import { done, waitUntil, type StepContext, type StepOutcome } from './context.ts';
import { postponedDeadline } from './deadline.ts';
import { finish, settle } from './finish.ts';
import { applyTransition } from './record-helpers.ts';

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
    const later = await postponedDeadline(ctx, record);
    if (later !== undefined) return waitUntil(later);
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

  if (state.status === 'COMPLETED' || state.status === 'ERROR') {
    await finish(ctx, record.registrationId, { status: state.status, source: data.source, state });
    return done;
  }

  const { registrationId } = record;
  // Statuses only move forward, so a report the record just read has already outgrown (a
  // duplicate, or one overtaken by a later report) is dropped without another read or write.
  if (applyProgress(record, state, data.source, ctx.now()) === record) return done;
  const progressed = await applyTransition(ctx, registrationId, (current) =>
    applyProgress(current, state, data.source, ctx.now()),
  );
  const { status } = progressed.record;
  if (progressed.changed)
    ctx.logger.info(
      { registrationId, status, result: state.result, source: data.source },
      'registration progressed',
    );
  return done;
}
