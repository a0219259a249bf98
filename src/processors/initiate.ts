import { documentTypes } from '../lib/esign/schemas.ts';
import type { CreatedSubmission } from '../lib/esign/types.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import { attachSubmission } from '../lib/registration/transitions.ts';
import { adopt, leftBehind } from './adopt.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, waitUntil, type StepContext, type StepOutcome } from './context.ts';
import { applyTransition, partnerUser, schedulePoll } from './record-helpers.ts';

/**
 * Steps 1+2: create the submission (the token comes with the client). This is the one call
 * Esign gives no idempotency key for, so its answer is written to the record before anything
 * else: a crash re-runs at most this call, and a re-run with a submission on record skips it.
 *
 * Before creating one, it asks Esign (the poll API) what this user has: a submission a lost
 * write of this registration left behind is adopted instead (see adopt.ts for the rule).
 *
 * `known`: the record as the step before it in the same job wrote it (submit.ts); else read.
 */
export async function initiate(
  data: StepJobData,
  ctx: StepContext,
  known?: RegistrationRecord,
): Promise<StepOutcome> {
  let record = known ?? (await ctx.store.require(data.registrationId));
  if (await settleIfTerminal(ctx, record)) return done;

  if (!record.submission) {
    const found = await leftBehind(ctx, record);
    if (found && 'waitUntil' in found) return waitUntil(found.waitUntil);
    if (found) return adopt(ctx, record, found);
    const answer = await ctx.esign.createSubmission(partnerUser(record), ctx.signal);
    const at = ctx.now();
    const created = sealUrls(ctx, record.registrationId, answer);
    // The store indexes the submission in the write that attaches it (callbacks find it).
    ({ record } = await applyTransition(ctx, record.registrationId, (current) =>
      attachSubmission(current, created, at),
    ));
    // Ended while Esign created it (its deadline, an erase): that submission is left
    // unconfirmed at Esign, and the registration's after-effects are finished.
    if (await settleIfTerminal(ctx, record)) {
      ctx.logger.warn(
        { registrationId: record.registrationId, submissionId: created.submissionId },
        'registration ended while its submission was created: left unconfirmed',
      );
      return done;
    }
    ctx.logger.info(
      { registrationId: record.registrationId, submissionId: created.submissionId },
      'submission created',
    );
  }

  // A replay after an adoption: the submission is confirmed already, wait for its result.
  if (record.confirmedAt !== undefined) return schedulePoll(ctx, record);
  const { registrationId, generation } = record;
  return {
    ...proceed({
      step: 'upload',
      jobId: jobIds.step('upload', registrationId, generation),
      data: { registrationId },
    }),
    record,
  };
}

/** The answer with its presigned URLs sealed: they are credentials, valid for days. */
function sealUrls(
  ctx: StepContext,
  registrationId: string,
  created: CreatedSubmission,
): CreatedSubmission {
  const documents = Object.fromEntries(
    documentTypes.map((type) => {
      const doc = created.documents[type];
      return [type, { ...doc, url: ctx.cipher.seal(doc.url, registrationId) }];
    }),
  ) as CreatedSubmission['documents'];
  return { ...created, documents };
}
