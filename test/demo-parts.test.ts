import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../demo/progress.ts';
import { answersPing, discoverRedis, RedisUnavailableError } from '../demo/redis-discovery.ts';
import { percentile, summarise, timesToResult } from '../demo/summary.ts';
import { createDemoUsers, expectedOutcome, scenarioFor, type DemoUser } from '../demo/users.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { scenarioNames, type SandboxSnapshot } from '../sandbox/index.ts';
import { redisUrl } from './support/redis.ts';

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('percentile', () => {
  it('is the nearest-rank value, whatever the input order', () => {
    const values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(10);
    expect(percentile(values, 90)).toBe(9);
    expect(percentile(values, 100)).toBe(10);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('times to result run from enqueuedAt to finishedAt', () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const results = [
      { enqueuedAt: at(0), finishedAt: at(250) },
      { enqueuedAt: at(100), finishedAt: at(1_100) },
    ] as RegistrationResult[];
    expect(timesToResult(results)).toEqual([250, 1_000]);
  });
});

describe('summarise', () => {
  const user = (scenario: DemoUser['scenario'], id: string): DemoUser =>
    ({
      scenario,
      expected: expectedOutcome(scenario),
      request: { registrationId: id },
    }) as DemoUser;
  const result = (id: string, fields: Partial<RegistrationResult>): RegistrationResult =>
    ({
      registrationId: id,
      status: 'COMPLETED',
      result: 'VALID',
      reasonCode: null,
      source: 'callback',
      error: null,
      enqueuedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:00.400Z',
      ...fields,
    }) as RegistrationResult;
  const sandbox = (fields: Partial<SandboxSnapshot> = {}): SandboxSnapshot =>
    ({
      calls: { token: { '200': 1 }, confirm: { '200': 2, '500': 1 } },
      tokensIssued: 1,
      leaks: [],
      callbacks: [],
      ...fields,
    }) as SandboxSnapshot;

  it('counts outcomes and sources, and finds nothing wrong when all match', () => {
    const summary = summarise({
      users: [user('completed', 'a'), user('invalid-NOT_EKTP', 'b')],
      results: [
        result('a', {}),
        result('b', { result: 'INVALID', reasonCode: 'NOT_EKTP', source: 'poll' }),
      ],
      sandbox: sandbox(),
      startedAt: 0,
      endedAt: 1_000,
    });
    const text = summary.lines.join('\n');
    expect(summary.mismatches).toEqual([]);
    expect(text).toMatch(/COMPLETED INVALID NOT_EKTP\s+1/);
    expect(text).toMatch(/COMPLETED VALID -\s+1/);
    expect(text).toContain('Result came by: callback 1, poll 1, worker 0');
    expect(text).toContain('Throughput: 2.0 registrations/s');
    expect(text).toContain('confirm 3 (500×1)');
  });

  it('reports an outcome that differs from the scenario, a missing result, extra tokens and leaks', () => {
    const summary = summarise({
      users: [user('completed', 'a'), user('error', 'b')],
      results: [
        result('a', { status: 'FAILED', result: null, error: { code: 'X_CODE', message: 'm' } }),
      ],
      sandbox: sandbox({
        tokensIssued: 2,
        leaks: [{ header: 'x-onekyc-token', documentReference: 'r' }],
      }),
      startedAt: 0,
      endedAt: 1_000,
    });
    expect(summary.mismatches).toEqual([
      'the sandbox issued 2 tokens; one shared token expected',
      '1 Esign headers were sent to presigned storage',
      'user 1 (scenario completed): expected COMPLETED VALID -, got FAILED - - (X_CODE)',
      'user 2 (scenario error): no result',
    ]);
  });
});

describe('discoverRedis', () => {
  it('uses REDIS_URL when set, and fails with a clear message (no password) when it does not answer', async () => {
    const found = await discoverRedis({ redisUrl: redisUrl() });
    expect(found).toMatchObject({ url: redisUrl(), origin: 'REDIS_URL' });
    const port = await closedPort();
    await expect(
      discoverRedis({ redisUrl: `redis://:topsecret@127.0.0.1:${port}`, pingTimeoutMs: 300 }),
    ).rejects.toThrow(
      new RedisUnavailableError(
        `REDIS_URL is set but the Redis at 127.0.0.1:${port} did not answer PING within 300 ms. ` +
          'Start it, fix REDIS_URL, or unset REDIS_URL to let the demo find or start one.',
      ),
    );
  });

  it('without REDIS_URL takes the local Redis when it answers', async () => {
    const found = await discoverRedis({ redisUrl: undefined, localUrl: redisUrl() });
    expect(found).toMatchObject({ url: redisUrl(), origin: 'localhost' });
  });

  it('without a local Redis starts a temporary redis-server and stops it again', async () => {
    const localUrl = `redis://127.0.0.1:${await closedPort()}`;
    const found = await discoverRedis({ redisUrl: undefined, localUrl, pingTimeoutMs: 300 });
    expect(found.origin).toBe('temporary redis-server');
    expect(found.url).not.toBe(localUrl);
    expect(await answersPing(found.url, 500)).toBe(true);
    await found.stop();
    expect(await answersPing(found.url, 300)).toBe(false);
  });

  it('with no Redis anywhere says how to get one', async () => {
    const localUrl = `redis://127.0.0.1:${await closedPort()}`;
    const attempt = discoverRedis({
      redisUrl: undefined,
      localUrl,
      redisServerCommand: 'esign-demo-no-such-redis-server',
      pingTimeoutMs: 300,
    });
    await expect(attempt).rejects.toThrow(RedisUnavailableError);
    await expect(attempt).rejects.toThrow(/apt-get install redis-server.*REDIS_URL/);
  });
});

describe('progress', () => {
  function sink(isTTY: boolean): { stream: Writable & { isTTY?: boolean }; text(): string } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }) as Writable & { isTTY?: boolean };
    stream.isTTY = isTTY;
    return { stream, text: () => chunks.join('') };
  }

  it('into a pipe writes a line per ~10%, ending with the total', () => {
    const out = sink(false);
    const progress = createProgress(out.stream, 100);
    for (let done = 0; done <= 100; done += 1) progress.update(done);
    progress.finish();
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines.at(-1)).toContain('100/100 finished');
    expect(out.text()).not.toContain('\r');
  });

  it('on a terminal redraws one line and ends it at finish', () => {
    const out = sink(true);
    const progress = createProgress(out.stream, 4);
    for (let done = 1; done <= 4; done += 1) progress.update(done);
    expect(out.text()).not.toContain('\n');
    expect(out.text().split('\r')).toHaveLength(5);
    progress.finish();
    expect(out.text()).toMatch(/\r\[#+\] 4\/4 finished {2}\d+\.\d s\n$/);
  });
});

describe('demo users', () => {
  it('the first round covers every sandbox scenario once', () => {
    const first = scenarioNames.map((_, index) => scenarioFor(index));
    expect(new Set(first)).toEqual(new Set(scenarioNames));
    // Later users never add another `stuck` (each one costs POLL_GIVE_UP_MS).
    const later = Array.from({ length: 100 }, (_, i) => scenarioFor(scenarioNames.length + i));
    expect(later).not.toContain('stuck');
  });

  it('get distinct ids and real JPEG/PNG files referenced by path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'esign-demo-test-'));
    try {
      const users = await createDemoUsers(20, dir);
      expect(new Set(users.map((u) => u.request.partnerUserId)).size).toBe(20);
      expect(new Set(users.map((u) => u.request.userDetails.nik)).size).toBe(20);
      expect(await readdir(dir)).toHaveLength(40);
      const first = users[0]?.request.images;
      expect(first).toEqual({ ktp: { path: 'ktp-1.jpg' }, selfie: { path: 'selfie-1.png' } });
      const jpeg = await readFile(join(dir, 'ktp-1.jpg'));
      const png = await readFile(join(dir, 'selfie-1.png'));
      expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
