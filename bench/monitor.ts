import type { Redis } from 'ioredis';

/**
 * Requests clients send Redis, counted with MONITOR: every command a client sent counts once,
 * a MULTI…EXEC block counts once (ioredis writes it as one batch), and commands a script ran
 * (source `lua`) do not count. Plain pipelines still count per command, so this is an upper
 * bound on round trips; INFO's socket reads, which coalesce under load, are a lower bound.
 * MONITOR slows Redis down: the bench counts only in its warm-up round, which it does not time.
 */

export interface RequestCounter {
  /** Requests seen so far. */
  readonly requests: number;
  stop(): Promise<void>;
}

export function countRequest(
  inMulti: Set<string>,
  args: readonly string[],
  source: string,
): number {
  if (source === 'lua') return 0;
  const command = (args[0] ?? '').toLowerCase();
  if (inMulti.has(source)) {
    if (command === 'exec' || command === 'discard') inMulti.delete(source);
    return 0;
  }
  if (command === 'multi') inMulti.add(source);
  return 1;
}

export async function countRequests(masters: readonly Redis[]): Promise<RequestCounter> {
  let requests = 0;
  const monitors = await Promise.all(
    masters.map(async (master) => {
      const monitor = await master.duplicate().monitor();
      const inMulti = new Set<string>();
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        requests += countRequest(inMulti, args, source);
      });
      return monitor;
    }),
  );
  return {
    get requests() {
      return requests;
    },
    async stop() {
      for (const monitor of monitors) monitor.disconnect();
      await Promise.resolve();
    },
  };
}
