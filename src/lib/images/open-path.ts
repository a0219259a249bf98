import { permanent, retryable, type WorkerError } from '../errors.ts';
import { boundedFileReads, DeadlineError } from './deadline.ts';
import { sniffAndGuard } from './guarded-stream.ts';
import { imageLimits, readTimeoutMs } from './policy.ts';
import { openInsideRoot, type SafeOpen } from './safe-open.ts';
import type { ImageDocument, ImagePolicy } from './source.ts';
import type { OpenedImage } from './opened-image.ts';

/**
 * A file under the image root, streamed. It is opened so that it must be a regular file
 * inside the root however the tree changes meanwhile (safe-open.ts), its size comes from fstat
 * on that descriptor, and every read is bounded by readTimeoutMs and the job's signal: a file
 * source can fail a job, never hang it (nor the shutdown waiting for it).
 */
export async function openPathImage(
  doc: ImageDocument,
  path: string,
  policy: ImagePolicy,
  signal?: AbortSignal,
): Promise<OpenedImage> {
  const timeoutMs = readTimeoutMs(policy);
  let opened: SafeOpen;
  try {
    opened = await openInsideRoot(policy.root, path, { timeoutMs, signal });
  } catch (error) {
    throw readFailed(doc, error);
  }
  if (opened.kind !== 'file') throw refusal(doc, opened.kind);
  const { handle, size } = opened;
  if (size > policy.maxBytes) {
    void handle.close().catch(() => undefined);
    throw permanent(
      'IMAGE_TOO_LARGE',
      `${doc} image is larger than the limit of ${policy.maxBytes} bytes`,
    );
  }

  const { stream: guarded, contentType } = await sniffAndGuard(
    boundedFileReads(handle, timeoutMs, signal),
    {
      doc,
      expectedLength: size,
      limits: imageLimits(policy),
      lengthMismatch: () =>
        retryable('IMAGE_SOURCE_FAILED', `${doc} image file changed size while it was read`),
      readFailed: (error) => readFailed(doc, error),
    },
  );
  return { stream: guarded, contentType, contentLength: size };
}

function refusal(doc: ImageDocument, kind: Exclude<SafeOpen['kind'], 'file'>): WorkerError {
  switch (kind) {
    case 'outside':
      return permanent('IMAGE_SOURCE_FAILED', `${doc} image path is outside the image root`);
    case 'missing':
      return permanent('IMAGE_SOURCE_FAILED', `${doc} image file does not exist`);
    case 'not-a-file':
      return permanent('IMAGE_SOURCE_FAILED', `${doc} image path is not a regular file`);
    case 'unreadable':
      return permanent('IMAGE_SOURCE_FAILED', `${doc} image file cannot be read`);
  }
}

/** Timeouts, aborts and I/O errors may pass: retryable, with the errno code only. */
function readFailed(doc: ImageDocument, error: unknown): WorkerError {
  if (error instanceof DeadlineError)
    return retryable(
      'IMAGE_SOURCE_FAILED',
      error.reason === 'timeout'
        ? `${doc} image file did not answer within the read timeout`
        : `${doc} image file read was cancelled`,
    );
  return retryable('IMAGE_SOURCE_FAILED', `${doc} image file could not be read`, {
    cause: errnoOnly(error),
  });
}

/** The errno code of a file error, without its message (which names the path). */
export function errnoOnly(error: unknown): { code: string | undefined } {
  return { code: (error as NodeJS.ErrnoException | undefined)?.code };
}
