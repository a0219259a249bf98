import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPartitionLayout } from '../src/app/partition-layout.ts';
import { loadConfig } from '../src/lib/config.ts';
import { ValidationError } from '../src/lib/errors.ts';
import { cleanPrefix, connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/** QUEUE_PARTITIONS cannot change under registrations in flight: they would be stranded. */
describe('changing QUEUE_PARTITIONS', () => {
  let stack: Stack;
  const redis = connect();
  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });
  const common = (partitions: number, prefix = stack.prefix) =>
    loadConfig({ ...stack.env, QUEUE_PREFIX: prefix, QUEUE_PARTITIONS: String(partitions) }, [
      'common',
    ]).common;

  it('is refused while a registration of the old layout is unfinished, naming the variable', async () => {
    // No worker runs: the registration stays QUEUED, in flight under the one-prefix layout.
    await stack.producer.enqueueRegistration(registrationRequest(person('completed')));
    await assertPartitionLayout(redis, common(1));
    const refused = await assertPartitionLayout(redis, common(3)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).problems).toEqual([
      expect.stringMatching(
        /^QUEUE_PARTITIONS: is 3 but 1 registration\(s\) are still in flight under the previous 1 partition/,
      ),
    ]);
    // Nothing was recorded: no key is the one-partition layout.
    expect(await redis.get(`${stack.keyPrefix}:partition-layout`)).toBeNull();
  });

  it('is taken, and recorded, when nothing is in flight; and back again', async () => {
    const prefix = `${stack.prefix}-empty`;
    try {
      await assertPartitionLayout(redis, common(3, prefix));
      expect(await redis.get(`${prefix}:partition-layout`)).toBe('{"v":1,"partitions":3}');
      await assertPartitionLayout(redis, common(1, prefix));
      expect(await redis.get(`${prefix}:partition-layout`)).toBe('{"v":1,"partitions":1}');
    } finally {
      await cleanPrefix(redis, prefix);
    }
  });

  const enqueue = (env: Record<string, string>, request: unknown) =>
    new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/esign-worker.js', 'enqueue', '-'], {
        env: { PATH: process.env.PATH ?? '', ...stack.env, ...env },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
      child.stdin.end(JSON.stringify(request));
    });

  it('lets a refused request leave a fresh prefix untouched, layout key included', async () => {
    const prefix = `${stack.prefix}-fresh`;
    const request = { ...registrationRequest(person('completed')), partnerUserId: '' };
    const run = await enqueue({ QUEUE_PREFIX: prefix }, request);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/partnerUserId/);
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
  });

  it('stops `esign-worker enqueue` with exit code 1, naming QUEUE_PARTITIONS', async () => {
    const run = await enqueue({ QUEUE_PARTITIONS: '2' }, registrationRequest(person('completed')));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /QUEUE_PARTITIONS: is 2 but 1 registration\(s\) are still in flight/,
    );
  });
});
