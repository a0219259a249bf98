import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanPrefix, connect, redisUrl, uniquePrefix } from './support/redis.ts';

/** `esign-worker ui` as an operator runs it: the bin, in a child process, only the env given. */
function start(env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['bin/esign-worker.js', 'ui'], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

async function exited(child: ChildProcessWithoutNullStreams) {
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

/** The URL from the "queue UI ready" log line (stdout stays read, so later logs have a reader). */
function readyUrl(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n').filter((text) => text.startsWith('{'))) {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'queue UI ready' && entry.url) resolve(entry.url);
      }
    });
    child.on('exit', () =>
      reject(new Error(`esign-worker ui exited before it was ready:\n${out}`)),
    );
  });
}

describe('esign-worker ui (the command)', () => {
  let redis: Redis;
  let prefix: string;
  let env: Record<string, string>;
  beforeAll(() => {
    redis = connect();
    prefix = uniquePrefix('ui');
    env = { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, UI_PORT: '0' };
  });
  afterAll(async () => {
    await cleanPrefix(redis, prefix);
    await redis.quit();
  });

  it('refuses to start without credentials, naming them; it asks for no Esign setting or PII key', async () => {
    const run = await exited(start({ ...env, UI_PASSWORD: 'secret-password-1' }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('UI_USERNAME: is required');
    expect(run.stderr).not.toContain('secret-password-1');
    const neither = await exited(start(env));
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('UI_USERNAME: is required');
    expect(neither.stderr).toContain('UI_PASSWORD: is required');
    expect(neither.stderr).not.toMatch(/ESIGN_|PII_ENCRYPTION_KEY|CALLBACK_/);
  }, 60_000);

  it('with UI_READ_ONLY=false retries a failed job, but not for another site; SIGTERM stops it', async () => {
    // A job that failed for good, as a step job does.
    const queue = new Queue('upload', { connection: redis, prefix });
    const job = await queue.add('upload', { registrationId: 'reg-ui-cli' }, { attempts: 1 });
    const worker = new Worker('upload', () => Promise.reject(new Error('IMAGE_INVALID: test')), {
      connection: connect(),
      prefix,
    });
    for (let tries = 0; (await job.getState()) !== 'failed'; tries += 1) {
      if (tries > 200) throw new Error('the job did not fail');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await worker.close();

    const child = start({ ...env, UI_USERNAME: 'ops', UI_PASSWORD: 'pw-2', UI_READ_ONLY: 'false' });
    const exit = exited(child);
    try {
      const url = await readyUrl(child);
      const authorization = `Basic ${Buffer.from('ops:pw-2').toString('base64')}`;
      const retry = (headers: Record<string, string>) =>
        fetch(`${url}/api/queues/upload/${job.id}/retry`, {
          method: 'PUT',
          headers: { authorization, ...headers },
        });

      const crossSite = await retry({ origin: 'https://evil.example' });
      expect(crossSite.status).toBe(403);
      expect(await job.getState()).toBe('failed');
      const own = await retry({ origin: url });
      expect(own.status).toBe(204);
      expect(await job.getState()).not.toBe('failed');
    } finally {
      child.kill('SIGTERM');
      await queue.close();
    }
    const started = Date.now();
    const { code } = await exit;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
