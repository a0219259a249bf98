import type { SubmissionState } from '../lib/esign/schemas.ts';
import { isWorkerError, toWorkerError } from '../lib/errors.ts';
import { jobIds, type PollJobData } from '../lib/registration/jobs.ts';
import { attemptOf } from '../lib/registration/record.ts';
import { recordPollAttempt } from '../lib/registration/transitions.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type NextJob, type StepContext, type StepOutcome } from './context.ts';
import { applyTransition, partnerUser } from './record-helpers.ts';

/**
 * Step 6, the fallback when no callback came in time. The poll API takes no submission id and
 * answers with one submission of the partner user, so an answer about another submission means
 * "ours is not known yet". Backs off exponentially (the next poll waits in the registration's
 * timer: timers.ts); gives up after POLL_GIVE_UP_MS with our own terminal status TIMED_OUT.
 */
export async function poll(data: PollJobData, ctx: StepContext): Promise<StepOutcome> {
  const record = await ctx.store.require(data.registrationId);
  if ((await settleIfTerminal(ctx, record)) || !record.submission) return done;
  const { registrationId, generation } = record;
  // Left from an earlier submission (a retry, a new submission after expired URLs): the
  // current one has polls of its own.
  if (data.generation !== undefined && data.generation !== generation) return done;
  const submissionId = record.submission.submissionId;

  const answer = await currentState(ctx, partnerUser(record), registrationId);
  const state = answer === 'failed' ? undefined : answer;
  const ours = state?.submissionId === submissionId ? state : undefined;
  ctx.metrics.polls.inc({ outcome: answer === 'failed' ? 'error' : outcomeOf(ours) });
  const next: NextJob[] = [];
  if (ours && ours.status !== 'INITIATED') {
    next.push({
      step: 'complete',
      jobId: jobIds.completion(ours),
      data: { registrationId, source: 'poll', state: ours },
    });
    if (ours.status === 'COMPLETED' || ours.status === 'ERROR') return proceed(...next);
  }

  // Time the queues spent paused does not count: nothing could move then (see pause-ledger).
  const since = record.confirmedAt ?? record.enqueuedAt;
  const now = ctx.now();
  const waited = now - since - (await ctx.pausedWithin(since, now));
  if (waited >= ctx.settings.pollGiveUpMs) {
    next.push({
      step: 'complete',
      jobId: jobIds.timeout(registrationId, generation),
      data: { registrationId, source: 'poll', timedOut: true, attempt: attemptOf(record) },
    });
    return proceed(...next);
  }

  // The next poll waits in the registration's timer, set by the write that records this one.
  const delayMs = Math.min(
    ctx.settings.pollIntervalMs * 2 ** (data.attempt - 1),
    ctx.settings.pollMaxIntervalMs,
  );
  // Not past the give-up, so that poll gives up on time; but never sooner than
  // POLL_INTERVAL_MS: while a pause is open the time left does not shrink between polls.
  const untilGiveUp = Math.max(ctx.settings.pollGiveUpMs - waited, ctx.settings.pollIntervalMs);
  const nextPoll = {
    jobId: jobIds.poll(registrationId, generation, data.attempt + 1),
    dueAt: now + Math.min(delayMs, untilGiveUp),
  };
  await applyTransition(ctx, registrationId, (current) =>
    recordPollAttempt(current, data.attempt, nextPoll),
  );
  return proceed(...next);
}

/**
 * The user's current submission, undefined when Esign knows none yet (404), or 'failed'.
 * A failed poll is not a failed registration: Esign may still call back or answer the next
 * poll, so errors only cost this attempt (counted and logged); the give-up clock still runs.
 */
async function currentState(
  ctx: StepContext,
  user: ReturnType<typeof partnerUser>,
  registrationId: string,
): Promise<SubmissionState | undefined | 'failed'> {
  try {
    return await ctx.esign.getSubmission(user, ctx.signal);
  } catch (raw) {
    if (isWorkerError(raw) && raw.httpStatus === 404) return undefined;
    if (ctx.signal.aborted) throw raw; // shutting down: the job is given back as it was
    const error = toWorkerError(raw);
    ctx.metrics.jobErrors.inc({ queue: 'poll', code: error.code });
    ctx.logger.warn({ registrationId, err: error }, 'poll failed; polling again later');
    return 'failed';
  }
}

function outcomeOf(state: SubmissionState | undefined): string {
  if (!state) return 'not_found';
  if (state.status === 'COMPLETED' || state.status === 'ERROR') return 'terminal';
  return 'pending';
}
