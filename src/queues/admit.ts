import { describeIssues, ValidationError } from '../lib/errors.ts';
import { checkImageSources, type DecodedImages, type ImagePolicy } from '../lib/images/index.ts';
import {
  registrationRequestSchema,
  type RegistrationRequest,
} from '../lib/registration/request-schema.ts';

/** A request that passed, with the bytes of its inline images as the check decoded them. */
export interface AdmittedRequest {
  request: RegistrationRequest;
  decoded: DecodedImages;
}

/**
 * A registration request as enqueue and retry take it: every rule of the schema and of the
 * image sources checked before anything is written, all problems listed at once.
 */
export async function admitRequest(input: unknown, images: ImagePolicy): Promise<AdmittedRequest> {
  const parsed = registrationRequestSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError('The registration request', describeIssues(parsed.error.issues));
  const request = parsed.data;
  const decoded: DecodedImages = {};
  const imageProblems = await checkImageSources(request.images, images, decoded);
  if (imageProblems.length > 0)
    throw new ValidationError('The registration request', imageProblems);
  return { request, decoded };
}
