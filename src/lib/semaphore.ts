/**
 * At most `limit` holders at once, in this process; the rest wait in arrival order. A wait
 * ends early when its signal aborts (shutdown), with the signal's reason, holding nothing.
 * `fn` is told whether it had to wait (what it read before may be out of date).
 */
export class Semaphore {
  private held = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  async run<T>(signal: AbortSignal, fn: (waited: boolean) => Promise<T>): Promise<T> {
    const waited = await this.acquire(signal);
    try {
      return await fn(waited);
    } finally {
      this.release();
    }
  }

  /** Holders now, and callers waiting: for tests and the curious. */
  get state(): { held: number; waiting: number } {
    return { held: this.held, waiting: this.waiting.length };
  }

  /** Resolves true when it had to wait for a slot. */
  private acquire(signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    if (this.held < this.limit) {
      this.held += 1;
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve, reject) => {
      const granted = () => {
        signal.removeEventListener('abort', aborted);
        resolve(true);
      };
      const aborted = () => {
        const index = this.waiting.indexOf(granted);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', aborted, { once: true });
      this.waiting.push(granted);
    });
  }

  /** Hands the slot straight to the next waiter, so `held` never dips under a queue. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held -= 1;
  }
}
