import type { Readable } from 'node:stream';

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
 * The chunks of a stream, each read bounded by `ms` and the signal. A read that does not come
 * back in time is abandoned: the stream is destroyed (its file descriptor closes once the
 * stuck operation returns) and a DeadlineError is thrown to the consumer.
 */
export async function* boundedReads(
  stream: Readable,
  ms: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let waiting = false;
  try {
    for (;;) {
      waiting = true;
      const next = await withDeadline(iterator.next(), ms, signal);
      waiting = false;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Never await a read that is still pending: it may never return.
    if (waiting) stream.destroy();
    else await iterator.return?.();
  }
}
