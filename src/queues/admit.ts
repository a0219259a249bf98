import { describeIssues, ValidationError } from '../lib/errors.ts';
import { checkImageSources, type ImagePolicy } from '../lib/images/index.ts';
import {
  registrationRequestSchema,
  type RegistrationRequest,
} from '../lib/registration/request-schema.ts';

/**
 * A registration request as enqueue and retry take it: every rule of the schema and of the
 * image sources checked before anything is written, all problems listed at once.
 */
export async function admitRequest(
  input: unknown,
  images: ImagePolicy,
): Promise<RegistrationRequest> {
  const parsed = registrationRequestSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError('The registration request', describeIssues(parsed.error.issues));
  const request = parsed.data;
  const imageProblems = await checkImageSources(request.images, images);
  if (imageProblems.length > 0)
    throw new ValidationError('The registration request', imageProblems);
  return request;
}
