import { documentTypes, type DocumentType } from '../lib/esign/schemas.ts';
import { isWorkerError, permanent } from '../lib/errors.ts';
import { openImage, openImageBytes, type OpenedImage } from '../lib/images/index.ts';
import { isStoredImage } from '../lib/registration/image-store.ts';
import { statusRank, type RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds, type StepJobData } from '../lib/registration/jobs.ts';
import {
  dropExpiredSubmission,
  markDocumentUploaded,
  markUploaded,
} from '../lib/registration/transitions.ts';
import { adopt, currentAtEsign } from './adopt.ts';
import { settleIfTerminal } from './finish.ts';
import { done, proceed, type StepContext, type StepOutcome } from './context.ts';
import { applyTransition, openRequest } from './record-helpers.ts';

/** A URL this close to expiry is treated as expired: an upload must not start and then die. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * Step 3: stream each image to its presigned URL, one at a time (one image in memory at
 * most), then mark both uploaded in one write. When the second fails, the first is marked
 * before the error goes on, so the retry sends only the second; only a process killed between
 * the two re-sends the first (read from its source again). One write fewer per registration. An expired URL means a new submission (no refresh API exists); a
 * storage refusal that is not expiry is explained by asking Esign (explainRefusal).
 *
 * `known`: the record as the step before it in the same job wrote it (submit.ts); else read.
 */
export async function upload(
  data: StepJobData,
  ctx: StepContext,
  known?: RegistrationRecord,
): Promise<StepOutcome> {
  let record = known ?? (await ctx.store.require(data.registrationId));
  if (await settleIfTerminal(ctx, record)) return done;
  const { registrationId } = record;
  if (!record.submission) return initiateAgain(record);

  const uploaded: Parameters<typeof markDocumentUploaded>[1][] = [];
  try {
    for (const type of documentTypes) {
      const submission: NonNullable<RegistrationRecord['submission']> = record.submission;
      const document = submission.documents[type];
      if (document.uploadedAt) continue;
      if ((document.expiresAt ?? 0) - EXPIRY_MARGIN_MS <= ctx.now())
        return reinitiate(ctx, record, submission.submissionId, type);

      const url = document.url
        ? ctx.cipher.open(document.url, registrationId)
        : (document.legacyUrl ?? '');
      const image = await openSource(ctx, record, type);
      try {
        await ctx.esign.uploadDocument(
          url,
          {
            body: image.stream,
            contentType: image.contentType,
            contentLength: image.contentLength,
          },
          ctx.signal,
        );
      } catch (error) {
        const refused = isWorkerError(error) ? error.code : undefined;
        // Expired by storage's word, or by our clock: a new submission. Any other refusal may be
        // an object already confirmed (a confirm the record lost): Esign says what happened.
        if (
          refused === 'UPLOAD_URL_EXPIRED' ||
          (refused === 'UPLOAD_FORBIDDEN' && (document.expiresAt ?? 0) <= ctx.now())
        )
          return reinitiate(ctx, record, submission.submissionId, type);
        if (refused === 'UPLOAD_FORBIDDEN') return explainRefusal(ctx, record, type, error);
        throw error;
      } finally {
        image.stream.destroy();
      }
      ctx.metrics.uploadBytes.inc({ document: type }, image.contentLength);
      const { submissionId } = submission;
      uploaded.push({ submissionId, document: type, bytes: image.contentLength });
    }
  } catch (error) {
    // The second upload failed (or its source): the first is marked before the job retries,
    // so the retry neither reads its source again nor sends it twice.
    if (uploaded.length > 0)
      await applyTransition(ctx, registrationId, (current) =>
        uploaded.reduce((marked, mark) => markDocumentUploaded(marked, mark, ctx.now()), current),
      );
    throw error;
  }

  // Both documents are uploaded: one write marks them and says UPLOADED (markUploaded drops
  // the URLs). The images are not needed any more, even by a re-run: the store deletes them
  // in the write that says UPLOADED, so an UPLOADED record never has them. Also for a run
  // that found both marked (a crash after the marks, before UPLOADED: a record of the release
  // before, which wrote a mark per document).
  if (uploaded.length > 0 || statusRank(record.status) < statusRank('UPLOADED')) {
    ({ record } = await applyTransition(ctx, registrationId, (current) =>
      markUploaded(
        uploaded.reduce((marked, mark) => markDocumentUploaded(marked, mark, ctx.now()), current),
        ctx.now(),
      ),
    ));
    if (!record.submission) return initiateAgain(record);
  }
  return {
    ...proceed({
      step: 'confirm',
      jobId: jobIds.step('confirm', registrationId, record.generation),
      data: { registrationId },
    }),
    record,
  };
}

/** The document's image: from the image store (inline bytes), or its path or URL. */
async function openSource(
  ctx: StepContext,
  record: RegistrationRecord,
  type: DocumentType,
): Promise<OpenedImage> {
  const request = openRequest(ctx, record);
  const source = type === 'KTP' ? request.images.ktp : request.images.selfie;
  if (!isStoredImage(source)) return openImage(type, source, ctx.images, ctx.signal);
  const bytes = await ctx.imageStore.get(record.registrationId, source.stored);
  if (!bytes)
    throw permanent(
      'IMAGE_SOURCE_FAILED',
      `${type} image is no longer stored (expired, erased, or never stored after a crash at enqueue)`,
    );
  return openImageBytes(type, bytes, ctx.images);
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
  expiredId: string,
  type: DocumentType,
): Promise<StepOutcome> {
  // Counted within the attempt: a retry starts with the full allowance.
  if (record.generation - (record.attemptGeneration ?? 0) >= ctx.settings.maxReinitiations)
    throw permanent(
      'REINITIATION_LIMIT',
      `the ${type} upload URL expired and MAX_REINITIATIONS (${ctx.settings.maxReinitiations}) new submissions were already made`,
    );
  const { record: updated } = await applyTransition(ctx, record.registrationId, (current) =>
    dropExpiredSubmission(current, expiredId),
  );
  ctx.logger.warn(
    { registrationId: record.registrationId, submissionId: expiredId, document: type },
    'upload URL expired: starting a new submission',
  );
  return initiateAgain(updated);
}

/**
 * Storage refused an upload (403) and it is not expiry. The usual cause: Esign took a confirm
 * for this submission that the record lost (its objects are final), so when Esign shows our
 * submission past INITIATED the record catches up and goes on from there. Otherwise nothing
 * explains it and retrying cannot help: UPLOAD_FORBIDDEN ends the registration.
 */
async function explainRefusal(
  ctx: StepContext,
  record: RegistrationRecord,
  type: DocumentType,
  refusal: unknown,
): Promise<StepOutcome> {
  const submissionId = record.submission?.submissionId;
  const state = await currentAtEsign(ctx, record);
  if (state && state.submissionId === submissionId && state.status !== 'INITIATED') {
    ctx.logger.warn(
      { registrationId: record.registrationId, submissionId, status: state.status },
      'storage refused an upload: Esign already has the submission confirmed, catching up',
    );
    return adopt(ctx, record, state);
  }
  throw permanent(
    'UPLOAD_FORBIDDEN',
    `storage refused the ${type} upload before its URL expired, and Esign does not show the ` +
      `submission confirmed: ${refusal instanceof Error ? refusal.message : 'no detail'}`,
    { cause: refusal },
  );
}
