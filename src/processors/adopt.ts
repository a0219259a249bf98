import type { SubmissionState } from '../lib/esign/schemas.ts';
import { isWorkerError } from '../lib/errors.ts';
import { isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import {
  adoptSubmission,
  applyProgress,
  noteUnownedSubmission,
} from '../lib/registration/transitions.ts';
import { done, type StepContext, type StepOutcome } from './context.ts';
import { finish } from './finish.ts';
import { applyTransition, partnerUser, firstPoll, schedulePoll } from './record-helpers.ts';

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
 * one lease after it was first seen (its upload URLs were only in the lost answer, so it cannot
 * be continued: a new one is made and this one stays unconfirmed); it is one this registration
 * replaced; the store says
 * another registration owns it. One the store says is ours is. One nobody owns is adopted
 * only if Esign processed it at or after this registration was enqueued (`processedAt`):
 * older ones belong to something before it. One not dated yet is waited for ('wait'), up to
 * POLL_GIVE_UP_MS after the enqueue; after that it is not adopted.
 */
export async function leftBehind(
  ctx: StepContext,
  record: RegistrationRecord,
): Promise<SubmissionState | { waitUntil: number } | undefined> {
  const state = await currentAtEsign(ctx, record);
  if (!state || record.previousSubmissionIds.includes(state.submissionId)) return undefined;
  const owner = await ctx.store.submissions.find(state.submissionId);
  if (owner !== undefined && owner !== record.registrationId) return undefined;
  const log = { registrationId: record.registrationId, submissionId: state.submissionId };
  if (state.status === 'INITIATED') {
    // Its upload URLs were only in the lost answer, so it cannot be continued. But the writes
    // lost may have reached a confirm that is still on its way to it: create only once that
    // confirm cannot arrive any more (one lease after the first sighting), and look again.
    const seen = record.unownedSeen;
    if (seen?.submissionId !== state.submissionId) {
      const until = ctx.now() + ctx.settings.confirmLeaseMs;
      await applyTransition(ctx, record.registrationId, (current) =>
        noteUnownedSubmission(current, state.submissionId, until),
      );
      ctx.logger.info(log, 'an unconfirmed submission at Esign: looking again after a lease');
      return { waitUntil: until };
    }
    if (ctx.now() < seen.until) return { waitUntil: seen.until };
    ctx.logger.info(log, 'an unconfirmed submission at Esign cannot be continued: creating one');
    return undefined;
  }
  if (owner === record.registrationId) return state;
  // Confirmed but not dated yet (IN_PROGRESS has no processedAt): a lost write of ours looks
  // exactly like this for the first moments of its processing. Ask again once Esign has dated
  // it, for as long as a result is waited for, rather than make a second submission now.
  if (
    state.processedAt === undefined &&
    ctx.now() - record.enqueuedAt < ctx.settings.pollGiveUpMs
  ) {
    ctx.logger.info(log, 'a submission at Esign not dated yet: asking again before creating one');
    return { waitUntil: ctx.now() + ctx.settings.pollIntervalMs };
  }
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
  await ctx.store.submissions.add(state.submissionId, registrationId);
  const poll = firstPoll(ctx, record);
  const adopted = await applyTransition(ctx, registrationId, (current) =>
    adoptSubmission(current, state, poll, ctx.now()),
  );
  if (adopted.changed)
    ctx.logger.info(
      { registrationId, submissionId: state.submissionId, status: state.status },
      'submission adopted: Esign already had it confirmed',
    );
  // Refused: the record holds another submission now (a concurrent run), whose images stay.
  if (adopted.record.submission?.submissionId !== state.submissionId) return done;
  // Confirmed at Esign: the request (scrubbed by adoptSubmission) and images are not needed.
  // The write that adopts it drops the images in its own script (write-effects.ts); a record
  // adopted already (a replay) may come from a release that did not.
  if (!adopted.changed) await ctx.imageStore.delete(registrationId);
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
