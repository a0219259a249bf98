import { Readable } from 'node:stream';
import { permanent, type WorkerError } from '../errors.ts';
import {
  createScanner,
  ImageProblem,
  inspectImage,
  type DimensionLimits,
  type ImageScanner,
} from './scan.ts';
import { sniffLength, type ImageContentType } from './sniff.ts';
import type { ImageDocument } from './source.ts';

export interface GuardOptions {
  doc: ImageDocument;
  /** The byte count announced before reading (file size, Content-Length). */
  expectedLength: number;
  limits: DimensionLimits;
  /** The error when the bytes read differ from expectedLength. */
  lengthMismatch: () => WorkerError;
  /** Maps a failure of the underlying source (I/O, network, a deadline) onto a classified error. */
  readFailed: (error: unknown) => WorkerError;
}

export interface GuardedImage {
  stream: Readable;
  contentType: ImageContentType;
}

/** Permanent IMAGE_INVALID naming the document and the rule, never the bytes. */
export function invalidImage(doc: ImageDocument, problem: ImageProblem): WorkerError {
  return permanent('IMAGE_INVALID', `${doc} image ${problem.reason}`);
}

/**
 * The most to read before the upload starts when the dimensions are still unknown (a frame
 * header after 256 KiB of metadata is then found while streaming).
 */
const headLimit = 256 * 1024;

/**
 * Reads the start of a byte source until the header with the dimensions has been checked,
 * then returns a stream that replays those bytes and continues with the rest, checking each
 * chunk before passing it on. When the first reads already hold every announced byte (a
 * typical KYC image), the whole image is judged before the upload starts. The stream fails
 * when the source yields more or fewer bytes than announced (a presigned PUT is sent with that
 * Content-Length) and when the image turns out not to be whole; the last chunk is held back
 * until the end is checked, so storage never receives all the bytes of a refused image.
 */
export async function sniffAndGuard(
  source: AsyncIterable<Buffer>,
  options: GuardOptions,
): Promise<GuardedImage> {
  const check = (run: () => void): void => {
    try {
      run();
    } catch (error) {
      if (error instanceof ImageProblem) throw invalidImage(options.doc, error);
      throw error;
    }
  };
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let scanner: ImageScanner | undefined;
  let ended = false;
  try {
    while (!scanner?.dimensions && headBytes < headLimit) {
      let next: IteratorResult<Buffer>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw options.readFailed(error);
      }
      if (next.done) break;
      const chunk = next.value;
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes > options.expectedLength) throw options.lengthMismatch();
      if (scanner) check(() => scanner?.push(chunk));
      else if (headBytes >= sniffLength) scanner = startScanner(head, options, check);
    }
    // A source shorter than a signature: judged (and refused) on what there is.
    scanner ??= startScanner(head, options, check);
    if (headBytes === options.expectedLength) {
      check(() => scanner?.end());
      ended = true;
    }
  } catch (error) {
    await iterator.return?.();
    throw error;
  }
  return {
    stream: Readable.from(replay(head, iterator, scanner, ended, options, check), {
      objectMode: false,
    }),
    contentType: scanner.contentType,
  };
}

function startScanner(
  head: readonly Buffer[],
  options: GuardOptions,
  check: (run: () => void) => void,
): ImageScanner {
  const start = Buffer.concat(head);
  let scanner: ImageScanner | undefined;
  check(() => {
    scanner = createScanner(start, options.limits);
    scanner.push(start);
  });
  return scanner as ImageScanner;
}

async function* replay(
  head: readonly Buffer[],
  iterator: AsyncIterator<Buffer>,
  scanner: ImageScanner,
  ended: boolean,
  options: GuardOptions,
  check: (run: () => void) => void,
): AsyncGenerator<Buffer> {
  let sent = 0;
  try {
    for (const chunk of head) {
      sent += chunk.length;
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
      const chunk = next.value;
      sent += chunk.length;
      if (sent > options.expectedLength) throw options.lengthMismatch();
      check(() => scanner.push(chunk));
      if (sent === options.expectedLength && !ended) check(() => scanner.end());
      yield chunk;
    }
    if (sent !== options.expectedLength) throw options.lengthMismatch();
  } finally {
    // Releases the file handle or the HTTP connection when the consumer stops early.
    await iterator.return?.();
  }
}

/** The whole-image check of bytes in memory, as a permanent IMAGE_INVALID. */
export function inspectOrThrow(
  doc: ImageDocument,
  bytes: Buffer | readonly Buffer[],
  limits: DimensionLimits,
): ImageContentType {
  try {
    return inspectImage(bytes, limits).contentType;
  } catch (error) {
    if (error instanceof ImageProblem) throw invalidImage(doc, error);
    throw error;
  }
}

/** One in-memory image (whole, or in pieces) as a stream. */
export function bufferStream(bytes: Buffer | readonly Buffer[]): Readable {
  return Readable.from(Buffer.isBuffer(bytes) ? [bytes] : bytes, { objectMode: false });
}
