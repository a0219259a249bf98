import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpUnder, foundIn } from './support/redis-dump.ts';
import { connect, keysUnder } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * `esign-worker erase <registrationId>`: one registration's data gone on request, a tombstone
 * left (id, status, result code, status times); a running registration ends FAILED (ERASED)
 * with its result published first; an unknown id exits 3.
 */
async function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['bin/esign-worker.js', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('erasure on request', () => {
  let stack: Stack;
  let redis: Redis;
  beforeAll(async () => {
    // Esign never decides by itself here: the in-flight case stays in flight until erased.
    stack = await startStack({ sandbox: { processingMs: 600_000, callback: undefined } });
    redis = connect();
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });

  it('ends a running registration FAILED (ERASED), published, and leaves only its tombstone', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    // Wait until it is confirmed: a submission, an index, a poll scheduled.
    for (let i = 0; i < 200; i += 1) {
      if ((await stack.producer.getRegistration(registrationId))?.status === 'CONFIRMED') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await stack.producer.getRegistration(registrationId);
    expect(before?.status).toBe('CONFIRMED');
    const submissionId = before?.submissionId ?? '';

    // Only the environment a status read has, plus nothing: erase needs no PII key.
    const env = { ...stack.env };
    delete env.PII_ENCRYPTION_KEY;
    const run = await cli(['erase', registrationId], env);
    expect(run.code, run.stderr).toBe(0);

    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({
      status: 'FAILED',
      error: { code: 'ERASED', message: 'the registration was erased on request' },
    });
    const view = await stack.producer.getRegistration(registrationId);
    expect(view).toMatchObject({
      registrationId,
      status: 'FAILED',
      partnerUserId: '',
      submissionId: null,
      userDetails: 'scrubbed',
      documents: null,
      previousSubmissionIds: [],
    });
    expect(view?.erasedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(view?.history.map((entry) => entry.status)).toEqual([
      'QUEUED',
      'INITIATED',
      'UPLOADED',
      'CONFIRMED',
      'FAILED',
    ]);
    const dump = await dumpUnder(redis, `${stack.prefix}:registration`);
    expect(foundIn(dump, { partnerUserId: request.partnerUserId, submissionId })).toEqual([]);
    expect(await keysUnder(redis, `${stack.prefix}:registration-by-submission:`)).toEqual([]);
    expect(await keysUnder(redis, `${stack.prefix}:registration-in-flight:`)).toEqual([]);
    expect(await keysUnder(redis, `${stack.prefix}:registration-image:`)).toEqual([]);

    // Again: nothing more to do, still fine.
    expect((await cli(['erase', registrationId], env)).code).toBe(0);
    // A tombstone is not retried, with the request or without: said as such.
    const retried = await cli(['retry', registrationId], stack.env);
    expect(retried.code).not.toBe(0);
    expect(retried.stderr).toContain('was erased on request and cannot be retried');
  });

  it('exits 3 for an unknown registration id, writing nothing', async () => {
    const run = await cli(['erase', 'no-such-registration'], stack.env);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('registration no-such-registration does not exist');
    const named = (await keysUnder(redis, stack.prefix)).filter((key) =>
      key.includes('no-such-registration'),
    );
    expect(named).toEqual([]);
  });

  it('says what it does with --help', async () => {
    const child = spawn(process.execPath, ['bin/esign-worker.js', 'erase', '--help']);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(out).toContain('usage: esign-worker erase <registrationId>');
    expect(out).toContain('keeps a tombstone');
  });
});
