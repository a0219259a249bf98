import type { FileHandle } from 'node:fs/promises';
import { giveBack, lend, takeBuffer } from '../write-pool.ts';

/**
 * Time bounds for reading image sources. A read of a local file can still wait forever: a FIFO
 * swapped in for a file, a hung network mount. Node cannot cancel a file operation already
 * handed to the thread pool, so a bound here means "stop waiting for it": the job fails (and
 * is retried later) instead of hanging, and shutdown is not held up by a source.
 */

export class DeadlineError extends Error {
  readonly reason: 'timeout' | 'aborted';
  constructor(reason: 'timeout' | 'aborted') {
    super(reason === 'timeout' ? 'the read timed out' : 'the read was aborted');
    this.name = 'DeadlineError';
    this.reason = reason;
  }
}

/**
 * The promise's outcome, or a DeadlineError once `ms` pass or the signal aborts, whichever
 * comes first. `late` receives a value that arrives after giving up (e.g. to close a file
 * handle that was opened too late to be used).
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  late?: (value: T) => void,
): Promise<T> {
  if (signal?.aborted) {
    void promise.then(late, () => undefined);
    return Promise.reject(new DeadlineError('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const giveUp = (reason: 'timeout' | 'aborted'): void => {
      if (settled) return;
      settled = true;
      cleanUp();
      reject(new DeadlineError(reason));
    };
    const onAbort = (): void => giveUp('aborted');
    const timer = setTimeout(() => giveUp('timeout'), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    function cleanUp(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    promise.then(
      (value) => {
        if (settled) {
          late?.(value);
          return;
        }
        settled = true;
        cleanUp();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        cleanUp();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * The chunks of a file from its start to its end (a file that grew is then refused as changed,
 * guarded-stream.ts), each read bounded by `ms` and the signal. Chunks are read into pooled
 * buffers that the upload's socket gives back once it has written them (../write-pool.ts):
 * a fresh buffer per chunk would be garbage V8 frees late, tens of MiB at a time. A read that
 * does not come back in time is abandoned with its buffer (never reused: the read may still
 * fill it), a DeadlineError goes to the consumer, and the handle closes once that read returns.
 */
export async function* boundedFileReads(
  handle: FileHandle,
  ms: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  try {
    for (;;) {
      const buffer = takeBuffer();
      // From the descriptor's own position (ours alone, opened for this read, at 0).
      const { bytesRead } = await withDeadline(
        handle.read(buffer, 0, buffer.length, null),
        ms,
        signal,
      );
      if (bytesRead === 0) {
        giveBack(buffer);
        return;
      }
      const chunk = buffer.subarray(0, bytesRead);
      lend(chunk, buffer);
      yield chunk;
    }
  } finally {
    // Not awaited: closing waits for a read still pending, which may never return.
    void handle.close().catch(() => undefined);
  }
}
