/**
 * Stop waiting for something after a while. Health answers, metrics scrapes and shutdown must
 * each end in bounded time whatever Redis or a socket does; the work itself is not cancelled
 * (a Redis command already sent cannot be), the caller just no longer waits for it.
 */

export class DeadlineExceeded extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/** The promise's outcome, or a DeadlineExceeded rejection after `ms`, whichever comes first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, ms)), Math.max(0, ms));
  });
  // A rejection after the deadline has nobody left to hear it: keep it from going unhandled.
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Milliseconds left until `at` (an epoch time), never negative. */
export function remainingUntil(at: number, now: number = Date.now()): number {
  return Math.max(0, at - now);
}
