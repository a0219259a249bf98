import { permanent, ValidationError } from '../lib/errors.ts';
import { sourceKind } from '../lib/images/index.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { attemptOf } from '../lib/registration/record.ts';
import { retryRefusal, retryRegistration, type RetryInput } from '../lib/registration/retry.ts';
import { admitRequest } from './admit.ts';
import { sealIntake, storeImages, type SealedIntake } from './intake.ts';
import type { SharedServices } from './shared.ts';

export interface RetryOutcome {
  registrationId: string;
  /** The attempt now queued. */
  attempt: number;
  /** false: that attempt was already queued (a retry run twice); its first job is ensured. */
  started: boolean;
}

/**
 * Re-run an ended registration as a new attempt under the same id (lib/registration/retry.ts
 * says which and how). The request comes from the record while it still holds one; once it
 * was deleted (every ended registration's is), the caller gives it again and it must be the
 * same user's: the same partner user id and type, and no other registrationId. The record
 * and the user's in-flight slot change in one script (`store.retry`); the attempt's first job
 * is added after, and a second run of the same retry adds it again (a no-op by its id).
 */
export async function retryOn(
  services: SharedServices,
  defaultPartnerUserIdType: string,
  registrationId: string,
  request: unknown,
  addInitiate: (registrationId: string, generation: number) => Promise<unknown>,
): Promise<RetryOutcome> {
  const { store } = services;
  const record = await store.require(registrationId);
  if (record.status === 'QUEUED' && attemptOf(record) > 1) {
    await addInitiate(registrationId, record.generation);
    return { registrationId, attempt: attemptOf(record), started: false };
  }
  const refusal = retryRefusal(record);
  if (refusal) throw permanent('RETRY_REFUSED', refusal);
  const input = await retryInput(services, defaultPartnerUserIdType, record, request);

  // The new attempt has a deadline of its own, in the registration timers (set by this write).
  const outcome = await store.retry(registrationId, (current) => {
    const next = retryRegistration(current, input.retry, services.now());
    if (next === current) return next;
    return { ...next, deadlineAt: services.now() + services.deadlineMs, deadlineInTimers: true };
  });
  if (outcome.kind === 'in-flight')
    throw permanent(
      'REGISTRATION_IN_FLIGHT',
      `partner user already has registration ${outcome.registrationId} in flight; ` +
        'one registration per user runs at a time',
    );
  if (outcome.kind === 'refused')
    throw permanent('RETRY_REFUSED', retryRefusal(outcome.record) ?? 'changed meanwhile');
  // The new attempt is a trace of its own: its first step keeps it (pipeline.ts), so the
  // callbacks it gets join it, not the attempt before. A hint: a failure changes nothing.
  await services.tracing.contexts.forget(registrationId).catch(() => undefined);
  await storeImages(services, outcome.record, input.inline);
  await addInitiate(registrationId, outcome.record.generation);
  return { registrationId, attempt: attemptOf(outcome.record), started: true };
}

async function retryInput(
  services: SharedServices,
  defaultPartnerUserIdType: string,
  record: RegistrationRecord,
  given: unknown,
): Promise<{ retry: RetryInput; inline: SealedIntake['inline'] }> {
  if (given === undefined) {
    if (record.sealedRequest === undefined)
      throw new ValidationError(`Retrying registration ${record.registrationId}`, [
        'its request was deleted when it ended: give the request again (retry <id> request.json)',
      ]);
    const retry = { sealedRequest: record.sealedRequest, imageKinds: record.imageKinds };
    return { retry, inline: [] };
  }
  const { request, decoded } = await admitRequest(given, services.images);
  // Named, never quoted: user ids are compared, not echoed.
  const problems: string[] = [];
  if (request.registrationId !== undefined && request.registrationId !== record.registrationId)
    problems.push('registrationId: names another registration');
  if (request.partnerUserId !== record.partnerUserId)
    problems.push('partnerUserId: is not the partner user of this registration');
  if ((request.partnerUserIdType ?? defaultPartnerUserIdType) !== record.partnerUserIdType)
    problems.push('partnerUserIdType: is not the partner user id type of this registration');
  if (problems.length > 0) throw new ValidationError('The retried request', problems);
  const { registrationId } = record;
  const { sealedRequest, inline } = sealIntake(services, request, registrationId, decoded);
  return {
    retry: {
      sealedRequest,
      imageKinds: {
        ktp: sourceKind(request.images.ktp),
        selfie: sourceKind(request.images.selfie),
      },
    },
    inline,
  };
}
