import { permanent } from '../errors.ts';
import { base64Pieces, base64TooLong } from './base64.ts';
import { lengthOf, type ImagePieces } from './pieces.ts';
import { bufferStream, inspectOrThrow } from './guarded-stream.ts';
import { openPathImage } from './open-path.ts';
import { openUrlImage } from './open-url.ts';
import type { OpenedImage } from './opened-image.ts';
import { imageLimits } from './policy.ts';
import {
  imageSourceSchema,
  type ImageDocument,
  type ImagePolicy,
  type ImageSource,
} from './source.ts';

/**
 * At upload time: the image as a stream of known length and sniffed type, holding at most one
 * image in memory. Throws WorkerErrors: IMAGE_INVALID (not one whole JPEG/PNG within the pixel
 * limits, malformed source), IMAGE_TOO_LARGE (over maxBytes), IMAGE_SOURCE_FAILED (gone,
 * outside the root, a refused URL or address: permanent; network, 5xx, a timeout or a file
 * changing under us: retryable). Every message names the document, never the source.
 */
export async function openImage(
  doc: ImageDocument,
  source: ImageSource,
  policy: ImagePolicy,
  signal?: AbortSignal,
): Promise<OpenedImage> {
  // The record was validated at enqueue, but it is read back from Redis: trust nothing.
  const parsed = imageSourceSchema.safeParse(source);
  if (!parsed.success)
    throw permanent('IMAGE_INVALID', `${doc} image source must be one of path, url or base64`);
  const valid = parsed.data;
  if ('path' in valid) return openPathImage(doc, valid.path, policy, signal);
  if ('url' in valid) return openUrlImage(doc, valid.url, policy, signal);
  return openBase64Image(doc, valid.base64, policy);
}

function openBase64Image(doc: ImageDocument, text: string, policy: ImagePolicy): OpenedImage {
  return openImageBytes(doc, base64ImageBytes(doc, text, policy), policy);
}

/**
 * Inline image bytes (stored apart from the record, image-store.ts, in pieces), checked again
 * as read. The pieces are checked and sent as they are, never joined into one buffer.
 */
export function openImageBytes(
  doc: ImageDocument,
  pieces: ImagePieces,
  policy: ImagePolicy,
): OpenedImage {
  const contentLength = lengthOf(pieces);
  if (contentLength > policy.maxBytes)
    throw permanent(
      'IMAGE_TOO_LARGE',
      `${doc} image is larger than the limit of ${policy.maxBytes} bytes`,
    );
  const contentType = inspectOrThrow(doc, pieces, imageLimits(policy));
  return { stream: bufferStream(pieces), contentType, contentLength };
}

/** The bytes of a base64 source: size first, then one linear pass (base64.ts). */
export function base64ImageBytes(
  doc: ImageDocument,
  text: string,
  policy: ImagePolicy,
): ImagePieces {
  const tooLarge = () =>
    permanent(
      'IMAGE_TOO_LARGE',
      `${doc} image is larger than the limit of ${policy.maxBytes} bytes`,
    );
  // Size first: nothing scans text that could not be an allowed image anyway.
  if (base64TooLong(text, policy.maxBytes)) throw tooLarge();
  const bytes = base64Pieces(text);
  if (bytes === undefined) throw permanent('IMAGE_INVALID', `${doc} image base64 is not valid`);
  if (lengthOf(bytes) > policy.maxBytes) throw tooLarge();
  return bytes;
}
