import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/**
 * An HTTP load generator in the bench process (undici): closed loop (as fast as answers come,
 * on a fixed number of connections) for the ceiling, open loop at a fixed rate for latency.
 * Every request carries a body of its own, so nothing is a duplicate.
 */

export interface LoadTarget {
  url: string;
  path: string;
  headers: Record<string, string>;
  /** The i-th request's body. */
  body(i: number): string;
}

export interface LoadResult {
  /** 2xx answers per second. */
  perSecond: number;
  /** Latency of 2xx answers, ms. */
  latencies: number[];
  failures: number;
}

async function send(pool: Pool, target: LoadTarget, i: number): Promise<number | undefined> {
  const started = performance.now();
  const response = await pool.request({
    method: 'POST',
    path: target.path,
    headers: { 'content-type': 'application/json', ...target.headers },
    body: target.body(i),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  await response.body.dump();
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  return ok ? performance.now() - started : undefined;
}

/** `connections` loops, each sending its next request when the last is answered. */
export async function closedLoop(
  target: LoadTarget,
  options: { connections: number; durationMs: number; firstIndex: number },
): Promise<LoadResult & { sent: number }> {
  const pool = new Pool(target.url, { connections: options.connections });
  const latencies: number[] = [];
  let failures = 0;
  let next = options.firstIndex;
  const started = performance.now();
  const end = started + options.durationMs;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (performance.now() < end) {
          const latency = await send(pool, target, next++).catch(() => undefined);
          if (latency === undefined) failures += 1;
          else latencies.push(latency);
        }
      }),
    );
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    perSecond: latencies.length / seconds,
    latencies,
    failures,
    sent: next - options.firstIndex,
  };
}

/** Requests started at `rate` per second for `durationMs`, whatever the answers do. */
export async function fixedRate(
  target: LoadTarget,
  options: { rate: number; durationMs: number; firstIndex: number },
): Promise<LoadResult> {
  const pool = new Pool(target.url, { connections: 32 });
  const latencies: number[] = [];
  let failures = 0;
  const inFlight: Promise<void>[] = [];
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const started = performance.now();
  try {
    for (let sent = 0; sent < total;) {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - started) * options.rate) / 1000),
      );
      for (; sent < due; sent += 1)
        inFlight.push(
          send(pool, target, options.firstIndex + sent).then(
            (latency) => {
              if (latency === undefined) failures += 1;
              else latencies.push(latency);
            },
            () => {
              failures += 1;
            },
          ),
        );
      await sleep(1);
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  return { perSecond: latencies.length / (options.durationMs / 1000), latencies, failures };
}
