// P3 alone (issue 11): the worker's peak RSS growth with 20 registrations × 2 × 10 MiB images by
// path in flight at once, as `npm run bench` measures it (bench/rss.ts), without the rest of
// the bench. `node bench/rss-only.ts [runs=3]`; each run is a fresh worker process.
import { execFileSync } from 'node:child_process';
import { startBaselineListener } from './baseline.ts';
import { killChildrenOnSignal } from './children.ts';
import { startOwnRedis } from './own-redis.ts';
import { measureRss } from './rss.ts';
import { startPipelineStack } from './stack.ts';

const runs = Number(process.argv[2] ?? 3);
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
killChildrenOnSignal();
console.log(`load before: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
const redis = await startOwnRedis(false);
const listener = await startBaselineListener();
try {
  const stack = await startPipelineStack({
    redisEnv: redis.env,
    setting: { latencyMs: 20, concurrency: 8 },
    partitions: 1,
    baselineCallbackUrl: listener.url,
  });
  try {
    const growths: number[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const { before, peak, growth } = await measureRss(stack);
      growths.push(growth);
      console.log(
        `run ${run}: before ${mib(before)} MiB, peak ${mib(peak)} MiB, growth +${mib(growth)} MiB`,
      );
    }
    growths.sort((a, b) => a - b);
    const median = growths[Math.floor(growths.length / 2)] ?? Number.NaN;
    console.log(
      `median growth +${mib(median)} MiB [${mib(growths[0] ?? 0)}–${mib(growths.at(-1) ?? 0)}] (target ≤ +32)`,
    );
  } finally {
    await stack.close();
  }
} finally {
  await listener.close();
  await redis.stop();
}
console.log(`load after: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
