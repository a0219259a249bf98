import type { SubmissionState } from '../lib/esign/schemas.ts';
import {
  isTerminal,
  type RegistrationRecord,
  type RegistrationResult,
  type ResultSource,
} from '../lib/registration/record.ts';
import { RESULT_FORMAT_VERSION } from '../lib/registration/format.ts';
import type { StepContext } from './context.ts';

export type TerminalStatus = RegistrationResult['status'];

export interface Ending {
  status: TerminalStatus;
  source: ResultSource;
  state?: SubmissionState | undefined;
  error?: { code: string; message: string } | undefined;
}

/**
 * End a registration: write the result and scrub the PII in one compare-and-set, then
 * publish, cancel the pending poll and free the user's in-flight slot. Every part is safe to
 * repeat, and `settle` finishes the job of an earlier run that crashed half-way.
 */
export async function finish(
  ctx: StepContext,
  registrationId: string,
  ending: Ending,
): Promise<void> {
  let wrote = false;
  const record = await ctx.store.update(registrationId, (current) => {
    wrote = false; // re-run on a lost compare-and-set: only the winning attempt counts
    if (isTerminal(current.status)) return undefined;
    wrote = true;
    const at = ctx.now();
    const result = buildResult(current, ending, at);
    current.status = ending.status;
    current.result = result;
    current.error = ending.error;
    if (ending.state) current.lastState = ending.state;
    current.sealedRequest = undefined;
    current.history.push({
      status: ending.status,
      at,
      source: ending.source,
      result: result.result,
      reasonCode: result.reasonCode,
    });
    return current;
  });
  if (wrote && record.result) {
    const { status, result, source } = record.result;
    ctx.metrics.registrationsFinished.inc({ status, result: result ?? 'NONE', source });
    ctx.metrics.timeToResult.observe({ status }, (ctx.now() - record.enqueuedAt) / 1000);
    ctx.logger.info(
      { registrationId, status, result, reasonCode: record.result.reasonCode, source },
      'registration finished',
    );
  }
  await settle(ctx, record);
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

/** The after-effects of a terminal record; a no-op once done. */
export async function settle(ctx: StepContext, record: RegistrationRecord): Promise<void> {
  if (!record.result) return;
  if (record.pollJobId) await ctx.cancelJob('poll', record.pollJobId);
  await ctx.store.releaseInFlight(record);
  if (record.history.some((entry) => entry.status === record.status && entry.published)) return;
  await ctx.publishResult(record.result);
  await ctx.store.update(record.registrationId, (current) => {
    const last = current.history.findLast((entry) => entry.status === current.status);
    if (!last || last.published) return undefined;
    last.published = true;
    return current;
  });
}

function buildResult(record: RegistrationRecord, ending: Ending, at: number): RegistrationResult {
  const details = ending.state?.submissionDetails ?? undefined;
  const checks = details?.verificationResult;
  return {
    formatVersion: RESULT_FORMAT_VERSION,
    registrationId: record.registrationId,
    submissionId: ending.state?.submissionId ?? record.submission?.submissionId ?? null,
    partnerUserId: record.partnerUserId,
    partnerUserIdType: record.partnerUserIdType,
    status: ending.status,
    result: ending.state?.result ?? null,
    reasonCode: ending.state?.reasonCode ?? null,
    verificationResult: checks
      ? Object.fromEntries(
          Object.entries(checks).filter(
            (entry): entry is [string, string] => entry[1] !== undefined,
          ),
        )
      : null,
    esignRegistrationId: details?.registrationId ?? null,
    eligibleToActivate: details?.eligibleToActivate ?? null,
    onboardingCode: details?.onboardingCode ?? null,
    shouldSkipActivation: details?.shouldSkipActivation ?? null,
    source: ending.source,
    error: ending.error ?? null,
    enqueuedAt: new Date(record.enqueuedAt).toISOString(),
    finishedAt: new Date(at).toISOString(),
  };
}
