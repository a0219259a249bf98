import type { ConfirmMetadata } from '../lib/esign/schemas.ts';
import { isWorkerError } from '../lib/errors.ts';
import { isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import type { RegistrationRequest } from '../lib/registration/request-schema.ts';
import {
  claimConfirm,
  markConfirmed,
  releaseConfirmClaim,
} from '../lib/registration/transitions.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type StepContext, type StepOutcome } from './context.ts';
import { applyTransition, openRequest, partnerUser } from './record-helpers.ts';

/**
 * Step 4: confirm with the user's details, then schedule the fallback poll.
 *
 * Confirm must reach Esign once. The record marks `confirmingAt` before the call; a re-run
 * that finds it without `confirmedAt` cannot know whether the first call arrived, so it asks
 * Esign (the poll API) whether our submission has left INITIATED before sending again.
 */
export async function confirm(data: StepJobData, ctx: StepContext): Promise<StepOutcome> {
  let record = await ctx.store.require(data.registrationId);
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
    // A confirm another run started may still be on its way: look again once it cannot be.
    if (record.confirmingUntil !== undefined && ctx.now() < record.confirmingUntil)
      return recheckLater(ctx, record, record.confirmingAt ?? 0, record.confirmingUntil);
    const alreadySent = record.confirmingAt !== undefined && (await reachedEsign(ctx, record));
    if (!alreadySent) {
      // Only a run that still finds the claim as it read it may send (see claimConfirm).
      const seen = record.confirmingAt;
      const claimed = await applyTransition(ctx, registrationId, (current) =>
        claimConfirm(current, seen, ctx.now(), ctx.settings.confirmLeaseMs),
      );
      const latest = claimed.record;
      if (!claimed.changed) {
        // Another run got there first. It confirmed: go on from the record as it is now, as a
        // fresh run of this job would. It is still sending: look again when its lease ends.
        if (latest.confirmedAt !== undefined) {
          if (await settleIfTerminal(ctx, latest)) return done;
          return schedulePoll(ctx, latest);
        }
        const other = latest.confirmingAt ?? ctx.now();
        return recheckLater(ctx, latest, other, latest.confirmingUntil ?? ctx.now());
      }
      const claim = latest.confirmingAt ?? 0;
      try {
        await sendConfirm(ctx, record, submission.submissionId);
      } catch (error) {
        // The call is over (answered or failed): a retry need not wait out the lease.
        await applyTransition(ctx, registrationId, (current) =>
          releaseConfirmClaim(current, claim),
        );
        throw error;
      }
    }
    const pollJobId = jobIds.poll(registrationId, record.generation, 1);
    ({ record } = await applyTransition(ctx, registrationId, (current) =>
      markConfirmed(current, pollJobId, ctx.now()),
    ));
    ctx.logger.info({ registrationId, submissionId: submission.submissionId }, 'confirmed');
  }

  // A callback may already have ended it while the confirm answer was on its way.
  if (isTerminal(record.status)) return done;
  return schedulePoll(ctx, record);
}

/** The fallback poll, CALLBACK_TIMEOUT_MS after confirmation, in case no callback comes. */
function schedulePoll(ctx: StepContext, record: RegistrationRecord): StepOutcome {
  const { registrationId, generation } = record;
  return proceed({
    step: 'poll',
    jobId: jobIds.poll(registrationId, generation, 1),
    data: { registrationId, attempt: 1 },
    delayMs: Math.max(
      0,
      (record.confirmedAt ?? ctx.now()) + ctx.settings.callbackTimeoutMs - ctx.now(),
    ),
  });
}

/** Run confirm again once the other run's call is surely over; nothing is sent now. */
function recheckLater(
  ctx: StepContext,
  record: RegistrationRecord,
  claimedAt: number,
  leaseEnds: number,
): StepOutcome {
  const { registrationId, generation } = record;
  ctx.logger.info({ registrationId }, 'a confirm is already on its way: looking again later');
  return proceed({
    step: 'confirm',
    jobId: jobIds.confirmRecheck(registrationId, generation, claimedAt),
    data: { registrationId },
    delayMs: Math.max(0, leaseEnds - ctx.now()),
  });
}

async function sendConfirm(
  ctx: StepContext,
  record: RegistrationRecord,
  submissionId: string,
): Promise<void> {
  const metadata = confirmMetadata(openRequest(ctx, record));
  try {
    await ctx.esign.confirmUpload(partnerUser(record), submissionId, metadata, ctx.signal);
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

export function confirmMetadata(request: RegistrationRequest): ConfirmMetadata {
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
