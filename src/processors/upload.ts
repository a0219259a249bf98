import { documentTypes, type DocumentType } from '../lib/esign/schemas.ts';
import { isWorkerError, permanent } from '../lib/errors.ts';
import { openImage } from '../lib/images/index.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type StepContext, type StepOutcome } from './context.ts';
import { advance, openRequest } from './record-helpers.ts';

/** A URL this close to expiry is treated as expired: an upload must not start and then die. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * Step 3: stream each image to its presigned URL, one at a time (one image in memory at
 * most), marking each document uploaded as soon as storage accepts it, so a retry re-sends
 * only what is missing. An expired URL means a new submission (no refresh API exists).
 */
export async function upload(data: StepJobData, ctx: StepContext): Promise<StepOutcome> {
  let record = await ctx.store.require(data.registrationId);
  if (await settleIfTerminal(ctx, record)) return done;
  const { registrationId } = record;
  if (!record.submission) return initiateAgain(record);

  for (const type of documentTypes) {
    const submission: NonNullable<RegistrationRecord['submission']> = record.submission;
    const document = submission.documents[type];
    if (document.uploadedAt) continue;
    if (document.expiresAt - EXPIRY_MARGIN_MS <= ctx.now()) return reinitiate(ctx, record, type);

    const request = openRequest(ctx, record);
    const source = type === 'KTP' ? request.images.ktp : request.images.selfie;
    const image = await openImage(type, source, ctx.images, ctx.signal);
    try {
      await ctx.esign.uploadDocument(
        document.url,
        { body: image.stream, contentType: image.contentType, contentLength: image.contentLength },
        ctx.signal,
      );
    } catch (error) {
      if (isWorkerError(error) && error.code === 'UPLOAD_URL_EXPIRED')
        return reinitiate(ctx, record, type);
      throw error;
    } finally {
      image.stream.destroy();
    }
    ctx.metrics.uploadBytes.inc({ document: type }, image.contentLength);
    const submissionId = submission.submissionId;
    record = await ctx.store.update(registrationId, (current) => {
      const doc = current.submission?.documents[type];
      if (current.submission?.submissionId !== submissionId || !doc) return undefined;
      doc.uploadedAt = ctx.now();
      doc.bytes = image.contentLength;
      return current;
    });
    if (!record.submission) return initiateAgain(record);
  }

  record = await ctx.store.update(registrationId, (current) =>
    advance(current, 'UPLOADED', ctx.now()),
  );
  return proceed({
    step: 'confirm',
    jobId: jobIds.step('confirm', registrationId, record.generation),
    data: { registrationId },
  });
}

function initiateAgain(record: RegistrationRecord): StepOutcome {
  const { registrationId, generation } = record;
  return proceed({
    step: 'initiate',
    jobId: jobIds.step('initiate', registrationId, generation),
    data: { registrationId },
  });
}

/** Drop the expired submission and start a new one, at most MAX_REINITIATIONS times. */
async function reinitiate(
  ctx: StepContext,
  record: RegistrationRecord,
  type: DocumentType,
): Promise<StepOutcome> {
  const expiredId = record.submission?.submissionId;
  if (record.generation >= ctx.settings.maxReinitiations)
    throw permanent(
      'REINITIATION_LIMIT',
      `the ${type} upload URL expired and MAX_REINITIATIONS (${ctx.settings.maxReinitiations}) new submissions were already made`,
    );
  const updated = await ctx.store.update(record.registrationId, (current) => {
    if (current.submission?.submissionId !== expiredId || expiredId === undefined) return undefined;
    current.previousSubmissionIds.push(expiredId);
    current.submission = undefined;
    current.generation += 1;
    return current;
  });
  ctx.logger.warn(
    { registrationId: record.registrationId, submissionId: expiredId, document: type },
    'upload URL expired: starting a new submission',
  );
  return initiateAgain(updated);
}
