// Throughput of the whole pipeline against the sandbox, at step concurrency 1 and at the
// default, with a fixed per-call latency standing in for a remote API. Prints registrations
// per second and the ratio; run with `npm run bench` (Redis from REDIS_URL or localhost).
import { randomUUID } from 'node:crypto';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { demoServiceEnv } from '../demo/config.ts';
import { startLocalStack } from '../demo/local-stack.ts';
import { createUsers } from '../demo/users.ts';

const count = Number(process.argv[2] ?? 60);
const latencyMs = Number(process.argv[3] ?? 20);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function measure(concurrency: number): Promise<number> {
  const results = new Map<string, RegistrationResult>();
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const c = String(concurrency);
  const stack = await startLocalStack({
    redisUrl,
    prefix: `bench-${randomUUID().slice(0, 8)}`,
    env: {
      ...demoServiceEnv,
      CONCURRENCY_INITIATE: c,
      CONCURRENCY_UPLOAD: c,
      CONCURRENCY_CONFIRM: c,
      CONCURRENCY_COMPLETE: c,
    },
    sandbox: { faults: { latencyMs } },
    onResult(result) {
      results.set(result.registrationId, result);
      if (results.size === count) done();
    },
  });
  try {
    const users = await createUsers(Array<'completed'>(count).fill('completed'), stack.imageRoot);
    const started = performance.now();
    for (const user of users) await stack.producer.enqueueRegistration(user.request);
    await all;
    const seconds = (performance.now() - started) / 1000;
    const valid = [...results.values()].filter((r) => r.result === 'VALID').length;
    if (valid !== count) throw new Error(`only ${valid}/${count} registrations ended VALID`);
    return count / seconds;
  } finally {
    await stack.close();
  }
}

const serial = await measure(1);
const parallel = await measure(8);
console.log(`${count} registrations, ${latencyMs} ms sandbox latency per call`);
console.log(`concurrency 1: ${serial.toFixed(1)} registrations/s`);
console.log(`concurrency 8: ${parallel.toFixed(1)} registrations/s`);
console.log(`ratio: ${(parallel / serial).toFixed(2)}x`);
