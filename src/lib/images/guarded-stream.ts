import { Readable } from 'node:stream';
import { permanent, type WorkerError } from '../errors.ts';
import { sniffImageType, sniffLength, type ImageContentType } from './sniff.ts';
import type { ImageDocument } from './source.ts';

export interface GuardOptions {
  doc: ImageDocument;
  /** The byte count announced before reading (file size, Content-Length). */
  expectedLength: number;
  /** The error when the bytes read differ from expectedLength. */
  lengthMismatch: () => WorkerError;
  /** Maps a failure of the underlying source (I/O, network) onto a classified error. */
  readFailed: (error: unknown) => WorkerError;
}

export interface GuardedImage {
  stream: Readable;
  contentType: ImageContentType;
}

export function notAnImage(doc: ImageDocument): WorkerError {
  return permanent('IMAGE_INVALID', `${doc} image is not a JPEG or PNG image`);
}

/**
 * Reads just enough of a byte source to recognise the format, then returns a stream that
 * replays those bytes and continues with the rest. The stream fails if the source yields
 * more or fewer bytes than announced: a presigned PUT is sent with that Content-Length,
 * and a wrong one would store a truncated image or be refused by the storage.
 */
export async function sniffAndGuard(
  source: AsyncIterable<Buffer>,
  options: GuardOptions,
): Promise<GuardedImage> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  try {
    while (headBytes < sniffLength) {
      const next = await iterator.next();
      if (next.done) break;
      head.push(next.value);
      headBytes += next.value.length;
    }
  } catch (error) {
    await iterator.return?.();
    throw options.readFailed(error);
  }
  const contentType = sniffImageType(Buffer.concat(head));
  if (!contentType) {
    await iterator.return?.();
    throw notAnImage(options.doc);
  }
  return {
    stream: Readable.from(replay(head, iterator, options), { objectMode: false }),
    contentType,
  };
}

async function* replay(
  head: readonly Buffer[],
  iterator: AsyncIterator<Buffer>,
  options: GuardOptions,
): AsyncGenerator<Buffer> {
  let sent = 0;
  try {
    for (const chunk of head) {
      sent += chunk.length;
      if (sent > options.expectedLength) throw options.lengthMismatch();
      yield chunk;
    }
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw options.readFailed(error);
      }
      if (next.done) break;
      sent += next.value.length;
      if (sent > options.expectedLength) throw options.lengthMismatch();
      yield next.value;
    }
    if (sent !== options.expectedLength) throw options.lengthMismatch();
  } finally {
    // Releases the file handle or the HTTP connection when the consumer stops early.
    await iterator.return?.();
  }
}

/** One in-memory image as a stream. */
export function bufferStream(bytes: Buffer): Readable {
  return Readable.from([bytes], { objectMode: false });
}
