import { documentTypes } from '../lib/esign/schemas.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type StepContext, type StepOutcome } from './context.ts';
import { advance, partnerUser } from './record-helpers.ts';

/**
 * Steps 1+2: create the submission (the token comes with the client). This is the one call
 * Esign gives no idempotency key for, so its answer is written to the record before anything
 * else: a crash re-runs at most this call, and a re-run with a submission on record skips it.
 */
export async function initiate(data: StepJobData, ctx: StepContext): Promise<StepOutcome> {
  let record = await ctx.store.require(data.registrationId);
  if (await settleIfTerminal(ctx, record)) return done;

  if (!record.submission) {
    const created = await ctx.esign.createSubmission(partnerUser(record), ctx.signal);
    const at = ctx.now();
    await ctx.store.indexSubmission(created.submissionId, record.registrationId);
    record = await ctx.store.update(record.registrationId, (current) => {
      if (current.submission) return undefined;
      current.submission = {
        submissionId: created.submissionId,
        createdAt: at,
        documents: Object.fromEntries(
          documentTypes.map((type) => {
            const doc = created.documents[type];
            return [type, { url: doc.url, reference: doc.reference, expiresAt: doc.expiresAt }];
          }),
        ) as NonNullable<typeof current.submission>['documents'],
      };
      return advance(current, 'INITIATED', at);
    });
    ctx.logger.info(
      { registrationId: record.registrationId, submissionId: created.submissionId },
      'submission created',
    );
  }

  const { registrationId, generation } = record;
  return proceed({
    step: 'upload',
    jobId: jobIds.step('upload', registrationId, generation),
    data: { registrationId },
  });
}
