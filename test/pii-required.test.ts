import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createProducer } from '../src/index.ts';
import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import { cleanPrefix, connect, redisUrl, uniquePrefix } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';

/**
 * Encrypted unless told otherwise: every command that stores PII refuses to start without
 * PII_ENCRYPTION_KEY (naming it), unless PII_PLAINTEXT_ALLOWED=true; the commands that only
 * read progress ask for no key. The producer API refuses a cipher without a key too.
 */
async function run(args: string[], env: Record<string, string>, input = '') {
  const child = spawn(process.execPath, ['bin/esign-worker.js', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  child.stdin.end(input);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

const esignEnv = {
  ESIGN_TOKEN_URL: 'http://127.0.0.1:1',
  ESIGN_API_URL: 'http://127.0.0.1:1',
  ESIGN_CLIENT_ID: 'client',
  ESIGN_PASS_KEY: 'pass',
  ESIGN_ONBOARDING_PARTNER: 'partner',
  ESIGN_PARTNER_USER_ID_TYPE: 'E2E_USER_ID',
  CALLBACK_AUTH: 'bearer',
  CALLBACK_AUTH_SECRET: 'secret-for-test',
};

describe('PII_ENCRYPTION_KEY is required to store PII', () => {
  let redis: Redis;
  let prefix: string;
  let env: Record<string, string>;
  beforeAll(() => {
    redis = connect();
    prefix = uniquePrefix('pii-req');
    env = { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, ...esignEnv };
  });
  afterAll(async () => {
    await cleanPrefix(redis, prefix);
    await redis.quit();
  });

  it('worker, start and enqueue exit non-zero naming PII_ENCRYPTION_KEY, and write nothing', async () => {
    const request = JSON.stringify(registrationRequest(person('completed')));
    for (const args of [['worker'], ['start'], ['enqueue', '-']]) {
      const result = await run(args, env, request);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toContain('PII_ENCRYPTION_KEY: is required');
      expect(result.stderr).toContain('PII_PLAINTEXT_ALLOWED=true');
    }
    // The environment is judged before the input: no key is named even for empty input.
    const empty = await run(['enqueue', '-'], env, '');
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain('PII_ENCRYPTION_KEY: is required');
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it('status and listener ask for no key', async () => {
    const status = await run(['status', 'no-such-registration'], env);
    expect(status.code).toBe(3);
    expect(status.stderr).not.toContain('PII_ENCRYPTION_KEY');
    // The listener, stopped by a problem of its own: the key is not among its problems.
    const listener = await run(['listener'], { ...env, CALLBACK_AUTH: 'nonsense' });
    expect(listener.code).not.toBe(0);
    expect(listener.stderr).toContain('CALLBACK_AUTH');
    expect(listener.stderr).not.toContain('PII_ENCRYPTION_KEY');
  });

  it('the producer API refuses a cipher without a key unless plaintext is allowed', () => {
    const options = {
      redis,
      prefix,
      images: { root: '/nonexistent', allowedHosts: [], maxBytes: 1024 },
      defaultPartnerUserIdType: 'E2E_USER_ID',
      retry: { attempts: 1, backoffMs: 10 },
    };
    expect(() => createProducer({ ...options, cipher: createPiiCipher() })).toThrow(
      /^createProducer: PII_ENCRYPTION_KEY is not set/,
    );
    const allowed = createProducer({
      ...options,
      cipher: createPiiCipher({ plaintextAllowed: true }),
    });
    expect(allowed).toBeDefined();
    void allowed.close();
  });
});
