import type { SubmissionState } from '../lib/esign/schemas.ts';
import { isWorkerError } from '../lib/errors.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import { isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import { adoptSubmission, applyProgress } from '../lib/registration/transitions.ts';
import { done, type StepContext, type StepOutcome } from './context.ts';
import { finish } from './finish.ts';
import { applyTransition, partnerUser, schedulePoll } from './record-helpers.ts';

/**
 * Catching up with Esign when the record missed something: a submission a lost write left
 * behind (initiate), or a confirm that landed though the record never heard (upload). The
 * rule for what may be adopted is in docs/design.md ("Adopt before create").
 */

/** The user's current submission at Esign (the poll API: one per user), or undefined (404). */
export async function currentAtEsign(
  ctx: StepContext,
  record: RegistrationRecord,
): Promise<SubmissionState | undefined> {
  try {
    return await ctx.esign.getSubmission(partnerUser(record), ctx.signal);
  } catch (error) {
    if (isWorkerError(error) && error.httpStatus === 404) return undefined;
    throw error;
  }
}

/**
 * Before creating a submission: the one a lost write of this registration left behind, if
 * Esign's answer can be told to be that. It is not when: Esign has none; it is still INITIATED
 * (its upload URLs were only in the lost answer, so it cannot be continued: a new one is
 * made and this one stays unconfirmed); it is one this registration replaced; the store says
 * another registration owns it. One the store says is ours is. One nobody owns is adopted
 * only if Esign processed it at or after this registration was enqueued (`processedAt`):
 * older ones, or ones that cannot be dated, belong to something before it.
 */
export async function leftBehind(
  ctx: StepContext,
  record: RegistrationRecord,
): Promise<SubmissionState | undefined> {
  const state = await currentAtEsign(ctx, record);
  if (!state || record.previousSubmissionIds.includes(state.submissionId)) return undefined;
  const owner = await ctx.store.findBySubmission(state.submissionId);
  if (owner !== undefined && owner !== record.registrationId) return undefined;
  const log = { registrationId: record.registrationId, submissionId: state.submissionId };
  if (state.status === 'INITIATED') {
    ctx.logger.info(log, 'an unconfirmed submission at Esign cannot be continued: creating one');
    return undefined;
  }
  if (owner === record.registrationId) return state;
  const processedAt = Date.parse(state.processedAt ?? '');
  if (!(processedAt >= record.enqueuedAt)) {
    ctx.logger.info(log, 'a submission at Esign older than this registration: not adopted');
    return undefined;
  }
  return state;
}

/**
 * Make Esign's `state` (past INITIATED) this registration's submission, confirmed, and go on
 * from where Esign says it is: a final state ends the registration (source poll), anything
 * else waits for the callback, with the fallback poll. The submission is indexed first, so
 * its callbacks find the registration.
 */
export async function adopt(
  ctx: StepContext,
  record: RegistrationRecord,
  state: SubmissionState,
): Promise<StepOutcome> {
  const { registrationId } = record;
  await ctx.store.indexSubmission(state.submissionId, registrationId);
  const pollJobId = jobIds.poll(registrationId, record.generation, 1);
  const adopted = await applyTransition(ctx, registrationId, (current) =>
    adoptSubmission(current, state, pollJobId, ctx.now()),
  );
  // Confirmed at Esign: the request (scrubbed by adoptSubmission) and images are not needed.
  await ctx.imageStore.delete(registrationId);
  if (adopted.changed)
    ctx.logger.info(
      { registrationId, submissionId: state.submissionId, status: state.status },
      'submission adopted: Esign already had it confirmed',
    );
  if (adopted.record.submission?.submissionId !== state.submissionId) return done;
  if (state.status === 'COMPLETED' || state.status === 'ERROR') {
    await finish(ctx, registrationId, { status: state.status, source: 'poll', state });
    return done;
  }
  const { record: latest } = await applyTransition(ctx, registrationId, (current) =>
    applyProgress(current, state, 'poll', ctx.now()),
  );
  // A callback may have ended it meanwhile.
  if (isTerminal(latest.status)) return done;
  return schedulePoll(ctx, latest);
}
