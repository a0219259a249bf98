// A 10 MiB JPEG given inline as base64 against the same file by path (issue 9: "CPU within 3×
// of the same file by path"). One registration at a time through a worker child process on a
// redis-server of its own; per registration, the CPU of the enqueue (this process, during the
// call: the base64 is decoded, checked and sealed there), of the worker (/proc) and of Redis
// (INFO used_cpu_*). Interleaved, median [min–max]. Run: node bench/base64-vs-path.ts [rounds]
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startLocalStack } from '../demo/local-stack.ts';
import { jpegOfSize } from '../test/support/images.ts';
import { person, registrationRequest } from '../test/support/requests.ts';
import { startOwnRedis } from './own-redis.ts';
import { cpuMsOf } from './proc.ts';
import { sampleRedis } from './redis-info.ts';
import { formatSpread, spread } from './stats.ts';

const rounds = Number(process.argv[2] ?? 5);
const tenMiB = 10 * 1024 * 1024;
const redis = await startOwnRedis(false);
const stack = await startLocalStack({
  prefix: `bench-b64-${process.pid}`,
  worker: 'none',
  env: { ...redis.env, ESIGN_PARTNER_USER_ID_TYPE: 'BENCH_USER', CALLBACK_TIMEOUT_MS: '60000' },
  sandbox: { processingMs: 30 },
});
try {
  const worker = stack.startProcess('worker', { LOG_LEVEL: 'info' });
  await worker.waitForLog('worker ready', 60_000);
  const jpeg = jpegOfSize(7, tenMiB);
  await writeFile(join(stack.imageRoot, 'ktp.jpg'), jpeg);
  const base64 = jpeg.toString('base64');

  const costs: Record<'path' | 'base64', number[]> = { path: [], base64: [] };
  const parts: Record<'path' | 'base64', [number, number, number][]> = { path: [], base64: [] };
  const once = async (kind: 'path' | 'base64') => {
    const request = registrationRequest(person('completed'));
    request.images.ktp = kind === 'path' ? { path: 'ktp.jpg' } : { base64 };
    const worker0 = await cpuMsOf(worker.pid);
    const redis0 = await sampleRedis(redis.masters);
    const own = process.cpuUsage();
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const spent = process.cpuUsage(own);
    const result = await stack.waitForResult(registrationId, 120_000);
    if (result.status !== 'COMPLETED') throw new Error(`${kind}: ${result.status}`);
    const workerMs = (await cpuMsOf(worker.pid)) - worker0;
    const redisMs = (await sampleRedis(redis.masters)).cpuMs - redis0.cpuMs;
    const enqueueMs = (spent.user + spent.system) / 1000;
    parts[kind].push([enqueueMs, workerMs, redisMs]);
    return enqueueMs + workerMs + redisMs;
  };
  await once('path'); // warm-up, not counted
  await once('base64');
  for (let round = 0; round < rounds; round += 1)
    for (const kind of round % 2 === 0
      ? (['path', 'base64'] as const)
      : (['base64', 'path'] as const))
      costs[kind].push(await once(kind));
  const ratios = costs.base64.map((ms, index) => ms / costs.path[index]!);
  const show = (values: number[]) => formatSpread(spread(values), 2);
  console.log(`CPU ms per registration (enqueue + worker + Redis), ${rounds} interleaved rounds:`);
  const split = (kind: 'path' | 'base64') =>
    ['enqueue', 'worker', 'Redis']
      .map(
        (name, i) => `${name} ${spread(parts[kind].slice(2).map((p) => p[i]!)).median.toFixed(1)}`,
      )
      .join(', ');
  console.log(`  10 MiB JPEG by path    ${show(costs.path)}   (${split('path')})`);
  console.log(`  10 MiB JPEG as base64  ${show(costs.base64)}   (${split('base64')})`);
  const ratio = spread(ratios).median;
  console.log(
    `  ratio base64 ÷ path    ${show(ratios)}  target ≤ 3: ${ratio <= 3 ? 'MET' : 'NOT MET'}`,
  );
} finally {
  await stack.close();
  await redis.stop();
}
