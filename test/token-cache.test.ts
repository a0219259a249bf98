import { randomBytes } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWorkerError } from '../src/lib/errors.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import {
  createTokenCache,
  tokenKey,
  type FetchedToken,
  type TokenCacheOptions,
} from '../src/lib/esign/token-cache.ts';
import { format0StoreToken } from './fixtures/format-0-writers.ts';
import { startPrivateRedis } from './support/private-redis.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';

const minute = 60_000;
const cipher = createPiiCipher({ key: randomBytes(32) });

/** A token endpoint stand-in that counts calls and issues numbered tokens. */
function issuer(lifetimeMs: number, clock: () => number) {
  const state = { calls: 0, fail: false };
  const fetchToken = async (): Promise<FetchedToken> => {
    state.calls += 1;
    await new Promise((resolve) => setTimeout(resolve, 20)); // let concurrent callers pile up
    if (state.fail) throw new Error('token endpoint down');
    return { token: `token-${state.calls}`, expiresAt: clock() + lifetimeMs };
  };
  return { state, fetchToken };
}

describe('token cache (real Redis)', () => {
  let prefix: string;
  let redis: Redis;
  let other: Redis;
  let clock: number;
  const now = (): number => clock;

  beforeEach(() => {
    prefix = uniquePrefix('token');
    redis = connect();
    other = connect();
    clock = Date.now();
  });

  afterEach(async () => {
    await cleanPrefix(redis, prefix);
    redis.disconnect();
    other.disconnect();
  });

  function cache(
    fetchToken: TokenCacheOptions['fetchToken'],
    extra: Partial<TokenCacheOptions> = {},
  ) {
    return createTokenCache({
      redis,
      keyPrefix: prefix,
      fetchToken,
      refreshMarginMs: 5 * minute,
      cipher,
      logger: silentLogger(),
      now,
      ...extra,
    });
  }

  it('fetches once and reuses the token until the refresh margin is reached', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const tokens = cache(fetchToken);
    expect(await tokens.get()).toBe('token-1');
    clock += 24 * minute; // 6 minutes left: still outside the 5-minute margin
    expect(await tokens.get()).toBe('token-1');
    expect(state.calls).toBe(1);
    clock += 2 * minute; // 4 minutes left: renew
    expect(await tokens.get()).toBe('token-2');
    expect(state.calls).toBe(2);
  });

  it('stores the token under the prefix with a Redis TTL no longer than its lifetime', async () => {
    const { fetchToken } = issuer(30 * minute, now);
    await cache(fetchToken).get();
    const ttl = await redis.pttl(tokenKey(prefix));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30 * minute);
  });

  it('stores its format (v) with the token sealed, and uses a token the previous format stored', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    await cache(fetchToken).get();
    const stored = await redis.hgetall(tokenKey(prefix));
    expect(stored.v).toBe('1');
    expect(stored.token).toBeUndefined();
    expect(stored.sealedToken).toMatch(/^v2\./);
    expect(JSON.stringify(stored)).not.toContain('token-1');
    expect(cipher.open(stored.sealedToken ?? '', 'esign:token')).toBe('token-1');
    await format0StoreToken(redis, tokenKey(prefix), {
      token: 'format-0-token',
      expiresAt: clock + 30 * minute,
      refreshAt: clock + 25 * minute,
    });
    expect(await cache(fetchToken).get()).toBe('format-0-token');
    expect(state.calls).toBe(1);
  });

  it('refuses a token a newer release stored, retryably, and leaves it as it is', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const newer = { v: '2', token: 'newer', expiresAt: String(clock + minute), refreshAt: '0' };
    await redis.hset(tokenKey(prefix), newer);
    const error = await cache(fetchToken)
      .get()
      .catch((e: unknown) => e);
    expect(isWorkerError(error) && error.code).toBe('FORMAT_TOO_NEW');
    expect(isWorkerError(error) && error.retryable).toBe(true);
    expect(state.calls).toBe(0);
    expect(await redis.hgetall(tokenKey(prefix))).toEqual(newer);
  });

  it('20 concurrent callers in two processes cause a single fetch', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const a = cache(fetchToken);
    const b = cache(fetchToken, { redis: other });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).get()),
    );
    expect(state.calls).toBe(1);
    expect(new Set(results)).toEqual(new Set(['token-1']));
  });

  it('waits for another process holding the lock and uses the token it stores', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const lockKey = `${tokenKey(prefix)}:lock`;
    await redis.set(lockKey, 'another-process', 'PX', 10_000);
    const waiting = cache(fetchToken, { pollIntervalMs: 10 }).get();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await other.hset(tokenKey(prefix), {
      token: 'from-elsewhere',
      expiresAt: clock + 30 * minute,
      refreshAt: clock + 25 * minute,
    });
    expect(await waiting).toBe('from-elsewhere');
    expect(state.calls).toBe(0);
    expect(await redis.get(lockKey)).toBe('another-process'); // not ours to release
  });

  it('gives up waiting after the bound with a retryable error', async () => {
    const { fetchToken } = issuer(30 * minute, now);
    await redis.set(`${tokenKey(prefix)}:lock`, 'stuck-process', 'PX', 10_000);
    const error = await cache(fetchToken, { waitTimeoutMs: 100, pollIntervalMs: 10 })
      .get()
      .catch((e: unknown) => e);
    expect(isWorkerError(error) && error.code).toBe('ESIGN_TIMEOUT');
    expect(isWorkerError(error) && error.retryable).toBe(true);
  });

  it('takes over once a crashed holder’s lock expires', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    await redis.set(`${tokenKey(prefix)}:lock`, 'crashed-process', 'PX', 100);
    expect(await cache(fetchToken, { pollIntervalMs: 10 }).get()).toBe('token-1');
    expect(state.calls).toBe(1);
  });

  it('releases its own lock after fetching, but never a lock someone else now holds', async () => {
    const lockKey = `${tokenKey(prefix)}:lock`;
    const { fetchToken } = issuer(30 * minute, now);
    await cache(fetchToken).get();
    expect(await redis.exists(lockKey)).toBe(0);

    await redis.del(tokenKey(prefix));
    // Our lock "expired" during a slow fetch and another process took it over.
    const slowFetch = async (): Promise<FetchedToken> => {
      await other.set(lockKey, 'next-owner', 'PX', 10_000);
      return { token: 'slow', expiresAt: clock + 30 * minute };
    };
    expect(await cache(slowFetch).get()).toBe('slow');
    expect(await redis.get(lockKey)).toBe('next-owner');
  });

  it('invalidates only the token that failed', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const tokens = cache(fetchToken);
    expect(await tokens.get()).toBe('token-1');
    await tokens.invalidate('some-older-token');
    expect(await tokens.get()).toBe('token-1');
    await tokens.invalidate('token-1');
    expect(await tokens.get()).toBe('token-2');
    expect(state.calls).toBe(2);
  });

  it('serves a fresh token from memory: no Redis command until its refresh time', async () => {
    // MONITOR on a Redis of this test's own: on the shared one it also reads every other
    // test's commands, and ioredis's MONITOR reader has failed on some of them (binary job
    // options) with "Command queue state error".
    const own = await startPrivateRedis();
    const closers: (() => void)[] = [];
    const ownRedis = new IORedis(own.url);
    const ownOther = new IORedis(own.url);
    const watcher = new IORedis(own.url);
    try {
      const { state, fetchToken } = issuer(30 * minute, now);
      const tokens = cache(fetchToken, { redis: ownRedis });
      expect(await tokens.get()).toBe('token-1');
      // Every command that names the token's key, from any client, from here on.
      const monitor = await watcher.monitor();
      closers.push(() => monitor.disconnect());
      const touched: string[] = [];
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args.some((arg) => arg.startsWith(tokenKey(prefix)))) touched.push(String(args[0]));
      });
      // Another process renews it meanwhile: ours is still fresh, so this one keeps it.
      await ownOther
        .multi()
        .del(tokenKey(prefix))
        .hset(tokenKey(prefix), {
          token: 'from-elsewhere',
          expiresAt: clock + 40 * minute,
          refreshAt: clock + 35 * minute,
        })
        .exec();
      clock += 24 * minute; // 6 minutes left: still outside the 5-minute margin
      for (let call = 0; call < 50; call += 1) expect(await tokens.get()).toBe('token-1');
      await ownOther.ping(); // MONITOR lines of our commands arrive before this one's reply
      expect(touched.filter((command) => !['del', 'hset'].includes(command))).toEqual([]);
      clock += 2 * minute; // past our refresh time: Redis is read again, and has a fresh one
      expect(await tokens.get()).toBe('from-elsewhere');
      expect(state.calls).toBe(1);
    } finally {
      for (const close of closers) close();
      for (const client of [watcher, ownRedis, ownOther]) client.disconnect();
      await own.close();
    }
  });

  it('after a 401 in one process, another serving the same token from memory drops it at its own 401', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const a = cache(fetchToken);
    const b = cache(fetchToken, { redis: other });
    expect(await a.get()).toBe('token-1');
    expect(await b.get()).toBe('token-1');
    await a.invalidate('token-1');
    expect(await a.get()).toBe('token-2');
    // b has not called Esign since: it still holds token-1 until its own call is refused.
    expect(await b.get()).toBe('token-1');
    await b.invalidate('token-1'); // must not delete token-2, which a just stored
    expect(await b.get()).toBe('token-2');
    expect(await a.get()).toBe('token-2');
    expect(state.calls).toBe(2);
  });

  it('a read on its way when the token is refused does not put the refused token back in memory', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    // A token in Redis this process has not read yet (the previous format's plaintext field,
    // so invalidate matches it without having read it first).
    await format0StoreToken(redis, tokenKey(prefix), {
      token: 'old-token',
      expiresAt: clock + 30 * minute,
      refreshAt: clock + 25 * minute,
    });
    const tokens = cache(fetchToken);
    // A call reads Redis; another call's 401 comes in while that read is being answered.
    const reading = tokens.get();
    const refused = tokens.invalidate('old-token');
    expect(await reading).toBe('old-token'); // asked before the refusal
    await refused;
    // The retry after the 401 must not be served the refused token from memory.
    expect(await tokens.get()).toBe('token-1');
    expect(state.calls).toBe(1);
  });

  it('hands a fetch failure to every waiting caller, and tries again on the next call', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    state.fail = true;
    const tokens = cache(fetchToken);
    const results = await Promise.allSettled([tokens.get(), tokens.get(), tokens.get()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(state.calls).toBe(1);
    expect(await redis.exists(`${tokenKey(prefix)}:lock`)).toBe(0);
    state.fail = false;
    expect(await tokens.get()).toBe('token-2');
  });

  it('keeps using a still-valid token when its renewal fails, but not an expiring one', async () => {
    const { state, fetchToken } = issuer(30 * minute, now);
    const tokens = cache(fetchToken);
    expect(await tokens.get()).toBe('token-1');
    state.fail = true;
    clock += 26 * minute; // 4 minutes left: renewal due, the token host is down
    expect(await tokens.get()).toBe('token-1');
    clock += 3.75 * minute; // 15 s left: too close to expiry to trust for a call
    await expect(tokens.get()).rejects.toThrow();
    state.fail = false;
    expect(await tokens.get()).toMatch(/^token-\d+$/);
  });

  it('does not refetch on every call a token that lives shorter than the margin', async () => {
    const { state, fetchToken } = issuer(2 * minute, now); // margin is 5 minutes
    const tokens = cache(fetchToken);
    expect(await tokens.get()).toBe('token-1');
    clock += 30_000;
    expect(await tokens.get()).toBe('token-1');
    expect(state.calls).toBe(1);
    clock += 61_000; // past half its life
    expect(await tokens.get()).toBe('token-2');
  });

  it('lets one caller stop waiting via its signal without failing the others', async () => {
    const { fetchToken } = issuer(30 * minute, now);
    const tokens = cache(fetchToken);
    const controller = new AbortController();
    const impatient = tokens.get(controller.signal);
    const patient = tokens.get();
    controller.abort(new Error('job cancelled'));
    await expect(impatient).rejects.toThrow('job cancelled');
    expect(await patient).toBe('token-1');
  });
});
