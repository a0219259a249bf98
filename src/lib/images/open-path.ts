import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { permanent, retryable } from '../errors.ts';
import { sniffAndGuard } from './guarded-stream.ts';
import { imageLimits } from './policy.ts';
import { resolveInsideRoot } from './root.ts';
import type { ImageDocument, ImagePolicy } from './source.ts';
import type { OpenedImage } from './opened-image.ts';

/**
 * A file under the image root, streamed. The root is checked again (the file may have been
 * replaced by a symlink since enqueue) and the final component is opened with O_NOFOLLOW,
 * so a link swapped in between the check and the open is refused. The size comes from
 * fstat on the open handle: the same file that is then read.
 */
export async function openPathImage(
  doc: ImageDocument,
  path: string,
  policy: ImagePolicy,
): Promise<OpenedImage> {
  const resolved = await resolveInsideRoot(policy.root, path);
  if (resolved.kind === 'outside')
    throw permanent('IMAGE_SOURCE_FAILED', `${doc} image path is outside the image root`);
  if (resolved.kind === 'missing')
    throw permanent('IMAGE_SOURCE_FAILED', `${doc} image file does not exist`);
  if (resolved.kind === 'unreadable')
    throw permanent('IMAGE_SOURCE_FAILED', `${doc} image file cannot be read`);

  let handle: FileHandle;
  try {
    handle = await open(resolved.realPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw permanent('IMAGE_SOURCE_FAILED', `${doc} image file cannot be opened`, {
      cause: errnoOnly(error),
    });
  }
  let size: number;
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw permanent('IMAGE_SOURCE_FAILED', `${doc} image path is not a regular file`);
    if (info.size > policy.maxBytes)
      throw permanent(
        'IMAGE_TOO_LARGE',
        `${doc} image is larger than the limit of ${policy.maxBytes} bytes`,
      );
    size = info.size;
  } catch (error) {
    await handle.close();
    throw error;
  }

  const { stream, contentType } = await sniffAndGuard(
    handle.createReadStream({ start: 0, autoClose: true }),
    {
      doc,
      expectedLength: size,
      limits: imageLimits(policy),
      lengthMismatch: () =>
        retryable('IMAGE_SOURCE_FAILED', `${doc} image file changed size while it was read`),
      readFailed: (error) =>
        retryable('IMAGE_SOURCE_FAILED', `${doc} image file could not be read`, {
          cause: errnoOnly(error),
        }),
    },
  );
  return { stream, contentType, contentLength: size };
}

/** The errno code of a file error, without its message (which names the path). */
export function errnoOnly(error: unknown): { code: string | undefined } {
  return { code: (error as NodeJS.ErrnoException | undefined)?.code };
}
