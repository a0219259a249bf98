import type { SubmissionState } from '../lib/esign/schemas.ts';
import { isWorkerError } from '../lib/errors.ts';
import { isTerminal } from '../lib/registration/record.ts';
import { jobIds, type PollJobData } from '../queues/jobs.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type NextJob, type StepContext, type StepOutcome } from './context.ts';
import { partnerUser } from './record-helpers.ts';

/**
 * Step 6, the fallback when no callback came in time. The poll API takes no submission id and
 * answers with one submission of the partner user, so an answer about another submission means
 * "ours is not known yet". Backs off exponentially; gives up after POLL_GIVE_UP_MS with our own
 * terminal status TIMED_OUT.
 */
export async function poll(data: PollJobData, ctx: StepContext): Promise<StepOutcome> {
  const record = await ctx.store.require(data.registrationId);
  if ((await settleIfTerminal(ctx, record)) || !record.submission) return done;
  const { registrationId, generation } = record;
  const submissionId = record.submission.submissionId;

  const state = await currentState(ctx, partnerUser(record));
  const ours = state?.submissionId === submissionId ? state : undefined;
  ctx.metrics.polls.inc({ outcome: outcomeOf(ours) });
  const next: NextJob[] = [];
  if (ours && ours.status !== 'INITIATED') {
    next.push({
      step: 'complete',
      jobId: jobIds.completion(ours),
      data: { registrationId, source: 'poll', state: ours },
    });
    if (ours.status === 'COMPLETED' || ours.status === 'ERROR') return proceed(...next);
  }

  const since = record.confirmedAt ?? record.enqueuedAt;
  if (ctx.now() - since >= ctx.settings.pollGiveUpMs) {
    next.push({
      step: 'complete',
      jobId: jobIds.timeout(registrationId, generation),
      data: { registrationId, source: 'poll', timedOut: true },
    });
    return proceed(...next);
  }

  const attempt = data.attempt + 1;
  const pollJobId = jobIds.poll(registrationId, generation, attempt);
  await ctx.store.update(registrationId, (current) => {
    if (isTerminal(current.status) || current.pollAttempts >= data.attempt) return undefined;
    current.pollAttempts = data.attempt;
    current.pollJobId = pollJobId;
    return current;
  });
  const delayMs = Math.min(
    ctx.settings.pollIntervalMs * 2 ** (data.attempt - 1),
    ctx.settings.pollMaxIntervalMs,
  );
  next.push({ step: 'poll', jobId: pollJobId, data: { registrationId, attempt }, delayMs });
  return proceed(...next);
}

async function currentState(
  ctx: StepContext,
  user: ReturnType<typeof partnerUser>,
): Promise<SubmissionState | undefined> {
  try {
    return await ctx.esign.getSubmission(user, ctx.signal);
  } catch (error) {
    // 404: Esign knows no submission for this user yet.
    if (isWorkerError(error) && error.httpStatus === 404) return undefined;
    throw error;
  }
}

function outcomeOf(state: SubmissionState | undefined): string {
  if (!state) return 'not_found';
  if (state.status === 'COMPLETED' || state.status === 'ERROR') return 'terminal';
  return 'pending';
}
