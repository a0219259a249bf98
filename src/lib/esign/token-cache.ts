import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis-topology.ts';
import { retryable } from '../errors.ts';
import { readFormat, storedFormat } from '../format.ts';
import type { Logger } from '../logger.ts';
import type { PiiCipher } from '../pii-cipher.ts';

/**
 * The partner token, shared by every worker process through Redis (esign-api.md §3: cache
 * it, reuse it, renew it early, never fetch one per call).
 *
 * - Stored as a hash {v, sealedToken, expiresAt, refreshAt} under `${keyPrefix}:esign:token`,
 *   with a Redis TTL at its expiry so a dead token never lingers. The token is a credential:
 *   sealed by the PII cipher (owner `esign:token`), never in plaintext. A `token` field in
 *   plaintext is what the previous release wrote: used as it is, replaced at the next renewal
 *   (the previous release sees no `token` in ours and fetches its own: a rolling deploy costs
 *   a few extra token calls, nothing more). `v` is its format (../format.ts): a
 *   hash without one is format 0, the same fields; one a newer release wrote is refused
 *   (retryable FORMAT_TOO_NEW), never overwritten. The lock's value is an opaque owner id that
 *   only its writer compares, living seconds: it has no format.
 * - Reused until `refreshAt` = expiresAt − TOKEN_REFRESH_MARGIN_SECONDS.
 * - Renewed by one caller at a time across processes: a lock (SET NX PX, random owner value,
 *   released by a compare-and-delete script so a slow holder never frees someone else's lock);
 *   the others poll the cache with a short sleep, bounded. Within a process a single promise
 *   is shared, so N concurrent calls cost at most one lock attempt.
 * - `invalidate(token)` drops the cached token only if it is still the one that failed, so a
 *   late 401 cannot throw away a fresh token another process just fetched.
 * - Each process also keeps the token it last read or stored in memory and serves it from
 *   there until its `refreshAt`: in steady state an Esign call costs no Redis round trip for
 *   its token. Redis stays the shared truth for renewal (past refreshAt every process reads it
 *   again, and one fetches under the lock) and for revocation: a 401 drops the token from this
 *   process's memory as well as from Redis, and another process that still holds the revoked
 *   token in memory learns of it from its own 401 (one failed call, then it reads Redis).
 */

export interface FetchedToken {
  token: string;
  /** Absolute expiry, epoch ms. */
  expiresAt: number;
}

export interface TokenCacheOptions {
  redis: RedisClient;
  keyPrefix: string;
  /** Calls the token endpoint. Its errors propagate to every waiting caller. */
  fetchToken: (signal?: AbortSignal) => Promise<FetchedToken>;
  refreshMarginMs: number;
  /** Seals the token at rest. */
  cipher: PiiCipher;
  logger: Logger;
  now?: (() => number) | undefined;
  /** How long the lock protects one fetch; must exceed the token call's own timeout. */
  lockTtlMs?: number | undefined;
  /** How long a caller waits for another process's fetch before giving up (retryable). */
  waitTimeoutMs?: number | undefined;
  pollIntervalMs?: number | undefined;
}

export interface TokenCache {
  /** A token with more than the refresh margin left, fetching one if needed. */
  get(signal?: AbortSignal): Promise<string>;
  /** Forget `token` if it is still the cached one (after Esign answered 401 to it). */
  invalidate(token: string): Promise<void>;
}

const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const invalidateScript = `
local stored = redis.call('HGET', KEYS[1], 'sealedToken') or redis.call('HGET', KEYS[1], 'token')
if stored == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The sealed token's owner (AES-GCM additional data): it belongs to no registration. */
const TOKEN_OWNER = 'esign:token';

export const TOKEN_FORMAT_VERSION = 1;

const tokenFormat = storedFormat({
  name: 'partner token cache',
  marker: 'v',
  current: TOKEN_FORMAT_VERSION,
  oldest: 0,
  upgrades: { 0: (fields) => fields },
});

export function tokenKey(keyPrefix: string): string {
  return `${keyPrefix}:esign:token`;
}

/** A cached token this close to expiry is not used as a fallback: it may die in flight. */
const STILL_VALID_MS = 30_000;

interface Cached {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { redis, logger } = options;
  const now = options.now ?? Date.now;
  const key = tokenKey(options.keyPrefix);
  const lockKey = `${key}:lock`;
  const lockTtlMs = options.lockTtlMs ?? 30_000;
  const waitTimeoutMs = options.waitTimeoutMs ?? lockTtlMs + 5_000;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  let inFlight: Promise<string> | undefined;
  // The token this process last read or stored, served without Redis until its refreshAt.
  let memo: Cached | undefined;
  /** Counts invalidate() calls: a read that began before one does not refill `memo`. */
  let invalidations = 0;
  // The stored form of the last token seen, so invalidate can compare what is in Redis.
  let seen: { token: string; stored: string } | undefined;

  function openToken(fields: Record<string, unknown>): string | undefined {
    if (typeof fields.sealedToken === 'string') {
      try {
        const token = options.cipher.open(fields.sealedToken, TOKEN_OWNER);
        seen = { token, stored: fields.sealedToken };
        return token;
      } catch {
        // Sealed under a key this process lacks (a rotation under way): fetch a fresh one.
        logger.warn('the cached partner token does not open with the configured PII keys');
        return undefined;
      }
    }
    return typeof fields.token === 'string' ? fields.token : undefined;
  }

  async function read(): Promise<Cached | undefined> {
    // A read that was on its way when invalidate() ran may answer the token just refused:
    // it is returned (the caller asked before the refusal) but not remembered.
    const asOf = invalidations;
    const fields = readFormat(tokenFormat, await redis.hgetall(key));
    const token = openToken(fields);
    const expiresAt = Number(fields.expiresAt);
    const refreshAt = Number(fields.refreshAt);
    if (!token || !Number.isFinite(expiresAt) || !Number.isFinite(refreshAt)) return undefined;
    const cached = { token, expiresAt, refreshAt };
    if (asOf === invalidations) memo = cached;
    return cached;
  }

  const usable = (cached: Cached | undefined): cached is Cached =>
    cached !== undefined && cached.refreshAt > now();

  async function store(fetched: FetchedToken): Promise<void> {
    const at = now();
    const lifetime = fetched.expiresAt - at;
    if (lifetime <= 0) return; // already expired by our clock: use it once, never share it
    // A token shorter-lived than the margin would otherwise be "due for renewal" the moment
    // it arrives and be re-fetched on every call: renew such tokens at half their life.
    const refreshAt = fetched.expiresAt - Math.min(options.refreshMarginMs, lifetime / 2);
    const sealedToken = options.cipher.seal(fetched.token, TOKEN_OWNER);
    seen = { token: fetched.token, stored: sealedToken };
    memo = { token: fetched.token, expiresAt: fetched.expiresAt, refreshAt };
    await redis
      .multi()
      .del(key)
      .hset(key, {
        v: TOKEN_FORMAT_VERSION,
        sealedToken,
        expiresAt: fetched.expiresAt,
        refreshAt,
      })
      .pexpire(key, Math.ceil(lifetime))
      .exec();
  }

  async function fetchAsOwner(signal?: AbortSignal): Promise<string> {
    const fetched = await options.fetchToken(signal);
    await store(fetched);
    return fetched.token;
  }

  async function refresh(signal?: AbortSignal): Promise<string> {
    const owner = randomUUID();
    // Real elapsed time, not the injectable clock: the wait is about this process, not the token.
    const deadline = performance.now() + waitTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const acquired = await redis.set(lockKey, owner, 'PX', lockTtlMs, 'NX');
      if (acquired === 'OK') {
        try {
          // Another process may have renewed it between our read and our lock.
          const cached = await read();
          if (usable(cached)) return cached.token;
          return await fetchAsOwner(signal);
        } finally {
          await redis.eval(releaseScript, 1, lockKey, owner).catch((error: unknown) => {
            // The lock expires on its own; a failed release only delays the next renewal.
            logger.warn({ err: error }, 'could not release the partner token lock');
          });
        }
      }
      await sleep(pollIntervalMs, undefined, { signal });
      const cached = await read();
      if (usable(cached)) return cached.token;
      if (performance.now() > deadline)
        throw retryable(
          'ESIGN_TIMEOUT',
          'Esign token: timed out waiting for another process to renew the partner token',
        );
    }
  }

  return {
    async get(signal) {
      if (usable(memo)) return memo.token;
      const cached = await read();
      if (cached && cached.refreshAt > now()) return cached.token;
      if (!inFlight) {
        // The shared fetch ignores any one caller's signal: others may still want its result.
        inFlight = refresh().finally(() => {
          inFlight = undefined;
        });
      }
      const fresh = signal ? raceAbort(inFlight, signal) : inFlight;
      if (!cached || cached.expiresAt - STILL_VALID_MS <= now()) return fresh;
      // Renewal is due but the cached token still works: a token host that is down for a
      // moment must not fail calls the old token can still make.
      const fallback = cached.token;
      return fresh.catch((error: unknown): string => {
        if (signal?.aborted) throw error as Error;
        logger.warn({ err: error }, 'partner token renewal failed; using the current token');
        return fallback;
      });
    },

    async invalidate(token) {
      invalidations += 1;
      if (memo?.token === token) memo = undefined;
      const stored = seen?.token === token ? seen.stored : token;
      await redis.eval(invalidateScript, 1, key, stored);
    },
  };
}

/** Stop waiting when `signal` aborts, without cancelling the shared promise. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
