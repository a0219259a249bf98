import type { PartnerUser } from '../lib/esign/types.ts';
import { permanent } from '../lib/errors.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import type { ImageSource } from '../lib/images/index.ts';
import type { StoredImageSource } from '../lib/registration/image-store.ts';
import type { RegistrationRequest } from '../lib/registration/request-schema.ts';
import type { PendingPoll, Transition } from '../lib/registration/transitions.ts';
import { done, proceed, type StepContext, type StepOutcome } from './context.ts';

export function partnerUser(record: RegistrationRecord): PartnerUser {
  return { userId: record.partnerUserId, userIdType: record.partnerUserIdType };
}

/** The request as sealed: an inline image is a mark, its bytes are in the image store. */
export type SealedRequest = Omit<RegistrationRequest, 'images'> & {
  images: Record<'ktp' | 'selfie', ImageSource | StoredImageSource>;
};

/** The sealed request (PII): only the steps that send it open it, and only in memory. */
export function openRequest(ctx: StepContext, record: RegistrationRecord): SealedRequest {
  if (!record.sealedRequest)
    throw permanent('INTERNAL', `registration ${record.registrationId} has no request left`);
  try {
    const text = ctx.cipher.open(record.sealedRequest, record.registrationId);
    return JSON.parse(text) as SealedRequest;
  } catch {
    // Not the parser's message: it quotes the text it choked on, which is PII.
    throw permanent(
      'INTERNAL',
      `registration ${record.registrationId}: the sealed request cannot be read ` +
        '(a key missing from PII_ENCRYPTION_KEY/PII_PREVIOUS_KEYS, or sealed for another registration)',
    );
  }
}

export interface Applied {
  /** The record as written, or as it is in Redis now when the transition did not apply. */
  record: RegistrationRecord;
  /** False when the transition's guard left the record as it was (stale or replayed input). */
  changed: boolean;
}

/**
 * Apply a named transition (lib/registration/transitions.ts) with the store's compare-and-set.
 * The store re-runs it on a fresher record after a concurrent write, so `changed` is the
 * verdict of the attempt that counted, not of the first one.
 */
export async function applyTransition(
  ctx: StepContext,
  registrationId: string,
  transition: Transition,
): Promise<Applied> {
  let changed = false;
  const record = await ctx.store.update(registrationId, (current) => {
    const next = transition(current);
    changed = next !== current;
    return changed ? next : undefined;
  });
  return { record, changed };
}

/** The fallback poll, CALLBACK_TIMEOUT_MS after confirmation, in case no callback comes. */
export function firstPoll(ctx: StepContext, record: RegistrationRecord): PendingPoll {
  return {
    jobId: jobIds.poll(record.registrationId, record.generation, 1),
    dueAt: ctx.now() + ctx.settings.callbackTimeoutMs,
  };
}

/**
 * After confirmation: the fallback poll waits in the registration's timer, set by the write
 * that confirmed it (timers.ts), so nothing is to add. A record confirmed by the release
 * before (no `pollDueAt`) gets the delayed poll job that release gave it, under the same id,
 * so a replay adds nothing twice.
 */
export function schedulePoll(ctx: StepContext, record: RegistrationRecord): StepOutcome {
  if (record.pollDueAt !== undefined) return done;
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
