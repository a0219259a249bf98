/**
 * One stage of the baseline: at most `concurrency` items in `work` at a time, first in first
 * out, the way a BullMQ worker with that concurrency takes jobs. The first failure is kept
 * and reported by drained(): a baseline that fails is not a baseline.
 */
export class StagePool<T> {
  private readonly queue: T[] = [];
  private running = 0;
  private failure: unknown;
  private idle: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly work: (item: T) => Promise<void>;

  constructor(concurrency: number, work: (item: T) => Promise<void>) {
    this.concurrency = concurrency;
    this.work = work;
  }

  push(item: T): void {
    this.queue.push(item);
    this.pump();
  }

  /** Resolves once nothing is queued or running (rejects with the first failure). */
  async drained(): Promise<void> {
    if (this.running > 0 || this.queue.length > 0)
      await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.failure !== undefined) throw this.failure as Error;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const item = this.queue.shift() as T;
      this.running += 1;
      this.work(item)
        .catch((error: unknown) => {
          this.failure ??= error;
        })
        .finally(() => {
          this.running -= 1;
          this.pump();
          if (this.running === 0 && this.queue.length === 0)
            for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }
}
