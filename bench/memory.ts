// Redis memory per finished registration, on the local stack with its own redis-server (so
// nothing else moves the figures). Runs a warm-up (queues, token, streams exist), then N more
// registrations to their result, and prints two figures per registration:
//   - what stays for the retention: MEMORY USAGE of the record and the submission index
//     (the keys that outlive the registration for RECORD_RETENTION_DAYS);
//   - the used_memory delta over the N: the above plus what BullMQ keeps for an hour (consumed
//     results, at most 1,000; dedup keys; step jobs are removed as they complete) and its events
//     streams (capped: queues.ts).
// `node bench/memory.ts [N=300]`; exits 1 if the retained figure is above 2 KiB.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { demoServiceEnv } from '../demo/config.ts';
import { startLocalStack } from '../demo/local-stack.ts';
import { startTemporaryRedis } from '../demo/redis-discovery.ts';
import { createUsers } from '../demo/users.ts';

const count = Number(process.argv[2] ?? 300);
const warmup = 20;
const TARGET = 2048;

const server = await startTemporaryRedis('redis-server', 5_000, 700);
if (!server)
  throw new Error('bench/memory.ts needs redis-server on PATH (its own, for clean figures)');
const redis = new Redis(server.url, { commandTimeout: 5_000, maxRetriesPerRequest: 1 });
const prefix = `mem-${randomUUID().slice(0, 8)}`;
const stack = await startLocalStack({ redisUrl: server.url, prefix, env: { ...demoServiceEnv } });

async function run(n: number): Promise<string[]> {
  const users = await createUsers(Array<'completed'>(n).fill('completed'), stack.imageRoot);
  const ids: string[] = [];
  for (const user of users)
    ids.push((await stack.producer.enqueueRegistration(user.request)).registrationId);
  const results = await Promise.all(ids.map((id) => stack.waitForResult(id, 120_000)));
  const bad = results.filter((result) => result.status !== 'COMPLETED').length;
  if (bad > 0) throw new Error(`${bad} registrations did not complete`);
  // Let the last settles (publish, cancel, release, job removal) land.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return ids;
}

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

async function retainedBytes(id: string): Promise<{ bytes: number; keys: number }> {
  const record = await redis.get(`${prefix}:registration:${id}`);
  const submissionId = (JSON.parse(record ?? '{}') as { result?: { submissionId?: string } }).result
    ?.submissionId;
  const keys = [
    `${prefix}:registration:${id}`,
    ...(submissionId ? [`${prefix}:registration-by-submission:${submissionId}`] : []),
  ];
  let bytes = 0;
  for (const key of keys) bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
  return { bytes, keys: keys.length };
}

try {
  await run(warmup);
  const before = await usedMemory();
  const ids = await run(count);
  const after = await usedMemory();
  const sample = ids.slice(0, 50);
  let retained = 0;
  for (const id of sample) retained += (await retainedBytes(id)).bytes;
  const perRegistration = Math.round(retained / sample.length);
  const perDelta = Math.round((after - before) / count);
  const left = (await redis.keys(`${prefix}:registration-image:*`)).length;
  const recordSize = (await redis.strlen(`${prefix}:registration:${ids[0]}`)) || 0;
  console.log(`registrations measured:            ${count} (after ${warmup} warm-up)`);
  console.log(
    `kept for the retention, per reg.:   ${perRegistration} B (MEMORY USAGE of record + index; record JSON ${recordSize} B)`,
  );
  console.log(
    `used_memory delta, per reg.:        ${perDelta} B (with the consumed results of the last hour, capped)`,
  );
  console.log(`image keys left:                    ${left}`);
  console.log(`target:                             ${TARGET} B per finished registration`);
  process.exitCode = perRegistration <= TARGET && left === 0 ? 0 : 1;
} finally {
  await stack.close();
  redis.disconnect();
  await server.stop();
}
