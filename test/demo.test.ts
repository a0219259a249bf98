import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../demo/run.ts';
import { outcomeKey } from '../demo/summary.ts';
import { expectedOutcome } from '../demo/users.ts';
import { scenarioNames } from '../sandbox/index.ts';
import { connect, keysUnder, redisUrl } from './support/redis.ts';

/** `npm run demo`, in-process against the test Redis: the run a new user makes first. */

function captured(): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('runDemo', () => {
  const redis = connect();
  afterAll(async () => {
    await redis.quit();
  });

  it('runs one registration per scenario to the predicted outcome and leaves no keys', async () => {
    const out = captured();
    const count = scenarioNames.length;
    const code = await runDemo({
      env: { REDIS_URL: redisUrl(), LOG_LEVEL: 'silent' },
      count,
      out: out.stream,
    });
    const text = out.text();
    expect(code, text).toBe(0);
    expect(text).toContain(`OK: all ${count} registrations ended as their scenarios predict.`);
    expect(text).not.toContain('MISMATCH');

    // Every outcome the scenarios predict is listed with its count.
    const expectedCounts = new Map<string, number>();
    for (const scenario of scenarioNames) {
      const key = outcomeKey(expectedOutcome(scenario));
      expectedCounts.set(key, (expectedCounts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of expectedCounts)
      expect(text).toMatch(new RegExp(`^  ${key}\\s+${n}$`, 'm'));

    const sources = /Result came by: callback (\d+), poll (\d+), worker (\d+)/.exec(text);
    expect(sources).not.toBeNull();
    const [callback, poll, worker] = (sources ?? []).slice(1).map(Number);
    expect((callback ?? 0) + (poll ?? 0) + (worker ?? 0)).toBe(count);
    // The stuck submission times out by polling, and one submission loses every callback.
    expect(poll).toBeGreaterThanOrEqual(2);

    expect(text).toMatch(/tokens issued 1, header leaks to storage 0/);

    // No PII: no NIK (16 digits), no e-mail address, no synthetic name.
    expect(text).not.toMatch(/\d{16}/);
    expect(text).not.toContain('@');
    expect(text).not.toContain('Demo User');

    const prefix = /queue prefix (demo-[0-9a-f]+)/.exec(text)?.[1];
    expect(prefix).toBeDefined();
    expect(await keysUnder(redis, prefix ?? 'missing')).toEqual([]);
  }, 60_000);

  it('on Ctrl-C (an aborted signal) stops, exits 130 and still deletes its keys', async () => {
    const out = captured();
    const interrupted = new AbortController();
    interrupted.abort();
    const code = await runDemo({
      env: { REDIS_URL: redisUrl(), LOG_LEVEL: 'silent' },
      count: 3,
      out: out.stream,
      signal: interrupted.signal,
    });
    const text = out.text();
    expect(code, text).toBe(130);
    expect(text).toContain('Interrupted');
    expect(text).not.toContain('Outcomes');
    const prefix = /queue prefix (demo-[0-9a-f]+)/.exec(text)?.[1];
    expect(prefix).toBeDefined();
    expect(await keysUnder(redis, prefix ?? 'missing')).toEqual([]);
  });

  it('fails, naming the overall timeout and each missing result, when results are too slow', async () => {
    const out = captured();
    const code = await runDemo({
      env: { REDIS_URL: redisUrl(), LOG_LEVEL: 'silent', DEMO_TIMEOUT_MS: '1' },
      count: 2,
      out: out.stream,
    });
    const text = out.text();
    expect(code, text).toBe(1);
    expect(text).toMatch(
      /FAILED: only [01] of 2 registrations finished within 1 ms \(DEMO_TIMEOUT_MS\)/,
    );
    expect(text).toContain('MISMATCH user 2 (scenario completed-direct): no result');
    const prefix = /queue prefix (demo-[0-9a-f]+)/.exec(text)?.[1];
    expect(await keysUnder(redis, prefix ?? 'missing')).toEqual([]);
  });

  it('fails with a clear message, and starts nothing, when REDIS_URL does not answer', async () => {
    const out = captured();
    const code = await runDemo({
      env: { REDIS_URL: 'redis://:hunter2@127.0.0.1:1', LOG_LEVEL: 'silent' },
      count: 3,
      out: out.stream,
    });
    expect(code).toBe(1);
    expect(out.text()).toContain('REDIS_URL is set but the Redis at 127.0.0.1:1 did not answer');
    expect(out.text()).not.toContain('hunter2');
    expect(out.text()).not.toContain('queue prefix');
  });

  it('refuses a count that is not a whole positive number', async () => {
    const out = captured();
    const code = await runDemo({
      env: { REDIS_URL: redisUrl() },
      count: Number('x'),
      out: out.stream,
    });
    expect(code).toBe(2);
    expect(out.text()).toContain('usage: esign-worker demo [count]');
  });

  it('names a bad DEMO_* variable without running', async () => {
    const out = captured();
    const code = await runDemo({
      env: { REDIS_URL: redisUrl(), DEMO_CALLBACK_DROP_RATE: '2' },
      count: undefined,
      out: out.stream,
    });
    expect(code).toBe(2);
    expect(out.text()).toContain('DEMO_CALLBACK_DROP_RATE');
  });
});

describe('esign-worker demo | head', () => {
  it('cleans up as on Ctrl-C when the reader of its output goes away (EPIPE)', async () => {
    const redis = connect();
    const tmp = await mkdtemp(join(tmpdir(), 'esign-demo-pipe-'));
    try {
      const child = spawn(process.execPath, ['bin/esign-worker.js', 'demo', '40'], {
        env: {
          PATH: process.env.PATH ?? '',
          REDIS_URL: redisUrl(),
          LOG_LEVEL: 'silent',
          TMPDIR: tmp,
        },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let text = '';
      // Read until the prefix is printed, then hang up like `head -2` would.
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (/queue prefix demo-[0-9a-f]+/.test(text)) {
            child.stdout.destroy();
            resolve();
          }
        });
      });
      await exited;
      const prefix = /queue prefix (demo-[0-9a-f]+)/.exec(text)?.[1];
      expect(prefix).toBeDefined();
      expect(await keysUnder(redis, prefix ?? 'missing')).toEqual([]);
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await redis.quit();
      await rm(tmp, { recursive: true, force: true });
    }
  }, 60_000);
});
