import {
  base64ImageBytes,
  type CheckDocument,
  type DecodedImages,
  type ImagePieces,
  releasePieces,
  type ImageSource,
} from '../lib/images/index.ts';
import type { StoredImageSource } from '../lib/registration/image-store.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import { attemptOf, type RegistrationRecord } from '../lib/registration/record.ts';
import type { RegistrationRequest } from '../lib/registration/request-schema.ts';
import { writeJobData } from '../lib/registration/format.ts';
import type { SharedServices } from './shared.ts';

/**
 * What enqueue and retry do with an admitted request before and after its record is written
 * (docs/data-protection.md): inline images leave the request for their own sealed keys, the
 * request is sealed to its registration.
 */
export interface SealedIntake {
  sealedRequest: string;
  /** Inline image bytes, stored once the record exists (storeImages). */
  inline: [CheckDocument, ImagePieces][];
}

export function sealIntake(
  services: SharedServices,
  request: RegistrationRequest,
  registrationId: string,
  decoded: DecodedImages = {},
): SealedIntake {
  const inline: [CheckDocument, ImagePieces][] = [];
  const keep = (doc: CheckDocument, source: ImageSource): ImageSource | StoredImageSource => {
    if (!('base64' in source)) return source;
    // Decoded once, by the check that admitted the request (admit.ts).
    const type = doc === 'ktp' ? 'KTP' : 'SELFIE';
    inline.push([doc, decoded[doc] ?? base64ImageBytes(type, source.base64, services.images)]);
    return { stored: doc };
  };
  const images = {
    ktp: keep('ktp', request.images.ktp),
    selfie: keep('selfie', request.images.selfie),
  };
  const text = JSON.stringify({ ...request, images, registrationId });
  return { sealedRequest: services.cipher.seal(text, registrationId), inline };
}

export async function storeImages(
  services: SharedServices,
  record: RegistrationRecord,
  inline: SealedIntake['inline'],
): Promise<void> {
  await services.imageStore.put(record.registrationId, inline, services.store.ttlOf(record));
  // Stored: the decoded pieces go back to the pool for the next enqueue.
  for (const [, pieces] of inline) releasePieces(pieces);
}

/**
 * The deadline of a record the release before created: a delayed completion that ends the
 * attempt TIMED_OUT (a no-op if ended). Records created now have it in their timer, set by the
 * write that created them (timers.ts): nothing to add.
 */
export async function addDeadline(services: SharedServices, record: RegistrationRecord) {
  const { registrationId, deadlineAt } = record;
  if (deadlineAt === undefined || record.deadlineInTimers) return;
  await services.queues.steps.complete.add(
    'complete',
    writeJobData({ registrationId, source: 'worker' as const, timedOut: true }),
    {
      jobId: jobIds.deadline(registrationId, attemptOf(record)),
      delay: Math.max(0, deadlineAt - services.now()),
    },
  );
}
