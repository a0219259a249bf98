import type { SubmissionState } from '../esign/schemas.ts';
import { RESULT_FORMAT_VERSION } from './format.ts';
import {
  attemptOf,
  type RegistrationRecord,
  type RegistrationResult,
  type ResultSource,
} from './record.ts';

/** How a registration ends, and the result it publishes (used by `endRegistration`). */

export type TerminalStatus = RegistrationResult['status'];

/** How a registration ends: Esign's final state, our timeout, or our failure. */
export interface Ending {
  status: TerminalStatus;
  source: ResultSource;
  state?: SubmissionState | undefined;
  error?: { code: string; message: string } | undefined;
}

/** The result for the results queue: Esign's final state if any, else our own ending. */
export function buildResult(
  record: RegistrationRecord,
  ending: Ending,
  at: number,
): RegistrationResult {
  const details = ending.state?.submissionDetails ?? undefined;
  const checks = details?.verificationResult;
  return {
    formatVersion: RESULT_FORMAT_VERSION,
    registrationId: record.registrationId,
    attempt: attemptOf(record),
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
