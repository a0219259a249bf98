import type { ConfirmMetadata } from '../lib/esign/schemas.ts';
import { isWorkerError } from '../lib/errors.ts';
import { isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import {
  claimConfirm,
  markConfirmed,
  releaseConfirmClaim,
} from '../lib/registration/transitions.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, waitUntil, type StepContext, type StepOutcome } from './context.ts';
import {
  applyTransition,
  firstPoll,
  openRequest,
  partnerUser,
  schedulePoll,
  type SealedRequest,
} from './record-helpers.ts';

/**
 * Step 4: confirm with the user's details, then schedule the fallback poll.
 *
 * Confirm must reach Esign once. A run claims the send in the record, with a lease while the
 * call may still reach Esign (CONFIRM_LEASE_MS), before the call. When Esign answers with an
 * error status the request is over and the lease ends at once. When there is no answer (a
 * timeout, a network error, an abort, a shutdown), the request may still arrive, so the lease
 * stands: the retry waits it out, then asks Esign (the poll API) whether our submission has
 * left INITIATED, and sends again only if it has not.
 *
 * `known`: the record as the step before it in the same job wrote it (submit.ts); else read.
 */
export async function confirm(
  data: StepJobData,
  ctx: StepContext,
  known?: RegistrationRecord,
): Promise<StepOutcome> {
  let record = known ?? (await ctx.store.require(data.registrationId));
  if (await settleIfTerminal(ctx, record)) return done;
  const { registrationId } = record;
  const submission = record.submission;
  if (
    !submission ||
    !submission.documents.KTP.uploadedAt ||
    !submission.documents.SELFIE.uploadedAt
  )
    return proceed({
      step: 'upload',
      jobId: jobIds.step('upload', registrationId, record.generation),
      data: { registrationId },
    });

  if (!record.confirmedAt) {
    // A confirm sent earlier (by an earlier run of this job, or by another run at once) may
    // still be on its way: look again once it cannot be.
    if (record.confirmingUntil !== undefined && ctx.now() < record.confirmingUntil)
      return waitForLease(ctx, record);
    const alreadySent = record.confirmingAt !== undefined && (await reachedEsign(ctx, record));
    if (!alreadySent) {
      // Only a run that still finds the claim as it read it may send (see claimConfirm).
      const seen = record.confirmingAt;
      const claimed = await applyTransition(ctx, registrationId, (current) =>
        claimConfirm(
          current,
          seen,
          submission.submissionId,
          ctx.now(),
          ctx.settings.confirmLeaseMs,
        ),
      );
      const latest = claimed.record;
      if (!claimed.changed) {
        // Another run got there first. It confirmed: go on from the record as it is now, as a
        // fresh run of this job would. It is still sending: look again when its lease ends.
        // The record no longer holds this submission, uploaded (Redis lost its latest writes):
        // no lease, so this job runs again at once, from the step the record shows.
        if (latest.confirmedAt !== undefined) {
          if (await settleIfTerminal(ctx, latest)) return done;
          return schedulePoll(ctx, latest);
        }
        return waitForLease(ctx, latest);
      }
      await sendUnderClaim(ctx, record, submission.submissionId, latest.confirmingAt ?? 0);
    }
    const poll = firstPoll(ctx, record);
    // markConfirmed scrubs the request: no later step sends it. The images went after upload;
    // the store deletes them again in this write (a confirmation), which covers a
    // registration adopted before both were uploaded.
    ({ record } = await applyTransition(ctx, registrationId, (current) =>
      markConfirmed(current, submission.submissionId, poll, ctx.now()),
    ));
    ctx.logger.info({ registrationId, submissionId: submission.submissionId }, 'confirmed');
  }

  // A callback may already have ended it while the confirm answer was on its way.
  if (isTerminal(record.status)) return done;
  return schedulePoll(ctx, record);
}

/**
 * Send the confirm under our claim `claim`. The call, token renewal included, is abandoned
 * CONFIRM_CALL_MS after it starts, so no request of ours outlives the lease by more than its
 * margin. Esign answered with an error: the request is over, so the lease ends now and a
 * retry goes straight to asking Esign. No answer: the lease stands (see confirm).
 */
async function sendUnderClaim(
  ctx: StepContext,
  record: RegistrationRecord,
  submissionId: string,
  claim: number,
): Promise<void> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.settings.confirmCallMs)]);
  try {
    await sendConfirm(ctx, record, submissionId, signal);
  } catch (error) {
    if (answeredByEsign(error))
      await applyTransition(ctx, record.registrationId, (current) =>
        releaseConfirmClaim(current, claim),
      );
    else
      ctx.logger.warn(
        { registrationId: record.registrationId, leaseUntil: claim + ctx.settings.confirmLeaseMs },
        'confirm unanswered: it may still reach Esign, so no retry sends it before the lease ends',
      );
    throw error;
  }
}

/**
 * Whether Esign itself answered the request with a status. A gateway's 502 or 504 is not
 * that: the request may have reached Esign behind it, and may still be applied.
 */
function answeredByEsign(error: unknown): boolean {
  if (!isWorkerError(error) || error.httpStatus === undefined) return false;
  return error.httpStatus !== 502 && error.httpStatus !== 504;
}

/** Run this job again once the claim's lease has ended; nothing is sent now. */
function waitForLease(ctx: StepContext, record: RegistrationRecord): StepOutcome {
  const until = record.confirmingUntil ?? ctx.now();
  ctx.logger.info(
    { registrationId: record.registrationId, until },
    'a confirm may still be on its way: looking again when its lease ends',
  );
  return waitUntil(until);
}

async function sendConfirm(
  ctx: StepContext,
  record: RegistrationRecord,
  submissionId: string,
  signal: AbortSignal,
): Promise<void> {
  const metadata = confirmMetadata(openRequest(ctx, record));
  try {
    await ctx.esign.confirmUpload(partnerUser(record), submissionId, metadata, signal);
  } catch (error) {
    // Undocumented, so we accept it if Esign ever says it: the earlier call did arrive.
    const already =
      isWorkerError(error) &&
      error.esignErrors.some((entry) => entry.cause === 'SUBMISSION_ALREADY_CONFIRMED');
    if (!already) throw error;
  }
}

/** Did an earlier, interrupted confirm arrive? Our submission is past INITIATED if so. */
async function reachedEsign(ctx: StepContext, record: RegistrationRecord): Promise<boolean> {
  try {
    const state = await ctx.esign.getSubmission(partnerUser(record), ctx.signal);
    return state.submissionId === record.submission?.submissionId && state.status !== 'INITIATED';
  } catch (error) {
    if (isWorkerError(error) && error.httpStatus === 404) return false;
    throw error;
  }
}

export function confirmMetadata(request: SealedRequest): ConfirmMetadata {
  const { name, nik, dateOfBirth, email, phoneNumber, dataVerification } = request.userDetails;
  return {
    userDetails: {
      name,
      nik,
      dateOfBirth,
      ...(email !== undefined && { email }),
      ...(phoneNumber !== undefined && { phoneNumber }),
      dataVerification: Object.fromEntries(
        Object.entries(dataVerification).filter(([, value]) => value !== undefined),
      ),
    },
    ...(request.userLocale !== undefined && { userLocale: request.userLocale }),
    consentData: request.consentData,
    additionalData: request.additionalData ?? {},
  };
}
