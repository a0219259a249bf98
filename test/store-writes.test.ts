import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import { statusIndexKey } from '../src/lib/registration/status-index.ts';
import { StoreKeys } from '../src/lib/registration/store-keys.ts';
import { COMPARE_AND_SET } from '../src/lib/registration/store-scripts.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { queuedRecord } from './support/records.ts';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.ts';

/**
 * What one write of the record costs Redis and what it does besides the record, on a
 * redis-server of the test's own (its command counters speak of this test alone): a
 * transition from the record just read is one script call, whose inner commands are the
 * record's GET and SET plus what the write implies; a stale first guess costs a retry, never a
 * lost write.
 */
describe('the store writes', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let other: Redis;
  const prefix = 'writes';
  const keys = new StoreKeys(prefix);
  const RETENTION = 60_000;
  let clock = Date.UTC(2026, 0, 1);
  let store: RegistrationStore;
  let serial = 0;

  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = new Redis(server.url);
    other = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    other.disconnect();
    await server.close();
  });
  beforeEach(async () => {
    store = new RegistrationStore({ redis, prefix, retentionMs: RETENTION, now: () => clock });
    // As on a server that has run one write already (the first one sends the source: NOSCRIPT).
    await other.script('LOAD', COMPARE_AND_SET.source);
  });

  async function created(overrides: Partial<RegistrationRecord> = {}): Promise<RegistrationRecord> {
    serial += 1;
    const record = queuedRecord(clock, {
      registrationId: `reg-${serial}`,
      partnerUserId: `user-${serial}`,
      version: 0,
      deadlineAt: clock + 3_600_000,
      ...overrides,
    });
    expect(await store.create(record)).toEqual({ kind: 'created' });
    return record;
  }

  /** Commands Redis ran (a script's inner ones included) while `work` ran, by name. */
  async function commandsDuring(work: () => Promise<unknown>): Promise<Record<string, number>> {
    await other.config('RESETSTAT');
    await work();
    const info = await other.info('commandstats');
    const counts: Record<string, number> = {};
    for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      if (!name?.startsWith('info') && !name?.startsWith('config'))
        counts[name ?? ''] = Number(calls);
    return counts;
  }

  const uploaded = (record: RegistrationRecord): RegistrationRecord => ({
    ...record,
    status: 'UPLOADED',
  });

  it('writes a transition from the record just read in one script call, no GET before it', async () => {
    const { registrationId } = await created();
    await store.require(registrationId);
    const counts = await commandsDuring(() =>
      store.update(registrationId, (record) => ({ ...record, pollAttempts: 1 })),
    );
    // The script, the record's GET (version check) and SET: the status stayed, so no index.
    expect(counts).toEqual({ evalsha: 1, get: 1, set: 1 });
    expect((await store.require(registrationId)).pollAttempts).toBe(1);
  });

  it('sends the script source again when Redis lost it (NOSCRIPT)', async () => {
    const { registrationId } = await created();
    await other.script('FLUSH');
    const written = await store.update(registrationId, (record) => ({
      ...record,
      pollAttempts: 2,
    }));
    expect(written.version).toBe(1);
    expect((await store.require(registrationId)).pollAttempts).toBe(2);
  });

  it('retries on the record the script answers when its first guess was stale', async () => {
    const { registrationId } = await created();
    await store.require(registrationId);
    // Another process writes in between.
    const elsewhere = new RegistrationStore({
      redis: other,
      prefix,
      retentionMs: RETENTION,
      now: () => clock,
    });
    await elsewhere.update(registrationId, (record) => ({ ...record, generation: 7 }));

    const counts = await commandsDuring(() =>
      store.update(registrationId, (record) => ({
        ...record,
        pollAttempts: record.pollAttempts + 1,
      })),
    );
    const record = await store.require(registrationId);
    expect(record).toMatchObject({ generation: 7, pollAttempts: 1, version: 2 });
    // Two script calls; the stale one answered with the record, so no GET of the caller's.
    expect(counts).toEqual({ evalsha: 2, get: 2, set: 1 });
  });

  it('checks a "no change" verdict of its first guess against Redis', async () => {
    const { registrationId } = await created();
    await store.update(registrationId, (record) => ({ ...record, pollAttempts: 1 }));
    const elsewhere = new RegistrationStore({
      redis: other,
      prefix,
      retentionMs: RETENTION,
      now: () => clock,
    });
    await elsewhere.update(registrationId, (record) => ({ ...record, pollAttempts: 0 }));
    // On the guess (pollAttempts 1) this changes nothing; on the record as it is, it does.
    const written = await store.update(registrationId, (record) =>
      record.pollAttempts === 0 ? { ...record, pollAttempts: 1 } : undefined,
    );
    expect(written).toMatchObject({ pollAttempts: 1, version: 3 });
    expect(await store.require(registrationId)).toMatchObject({ pollAttempts: 1, version: 3 });
  });

  it('drops the images in the write that reaches UPLOADED, the index moving with it', async () => {
    const { registrationId } = await created();
    for (const doc of ['ktp', 'selfie'] as const)
      await redis.set(keys.image(registrationId, doc), 'sealed', 'PX', 60_000);
    clock += 1_000;
    await store.update(registrationId, uploaded);
    expect(
      await redis.exists(keys.image(registrationId, 'ktp'), keys.image(registrationId, 'selfie')),
    ).toBe(0);
    expect(await redis.zscore(statusIndexKey(prefix, 'QUEUED'), registrationId)).toBeNull();
    expect(await redis.zscore(statusIndexKey(prefix, 'UPLOADED'), registrationId)).toBe(
      String(clock),
    );

    // A write that keeps an unfinished status leaves its score: when it entered the status.
    const entered = clock;
    clock += 1_000;
    const counts = await commandsDuring(() =>
      store.update(registrationId, (record) => ({ ...record, pollAttempts: 3 })),
    );
    expect(counts).toEqual({ evalsha: 1, get: 1, set: 1 });
    expect(await redis.zscore(statusIndexKey(prefix, 'UPLOADED'), registrationId)).toBe(
      String(entered),
    );
  });

  it('drops the images once: a confirmation or an end after UPLOADED sends no DEL for them', async () => {
    const { registrationId } = await created();
    await store.update(registrationId, uploaded);
    const confirming = await commandsDuring(() =>
      store.update(registrationId, (record) => ({
        ...record,
        status: 'CONFIRMED',
        confirmedAt: clock,
      })),
    );
    expect(confirming).toEqual({ evalsha: 1, get: 1, set: 1, zrem: 1, zadd: 1 });
    const ending = await commandsDuring(() =>
      store.update(registrationId, (record) => ({
        ...record,
        status: 'FAILED',
        result: { status: 'FAILED', result: null } as never,
      })),
    );
    // The user's slot is freed (GET, DEL); the images were gone since UPLOADED.
    expect(ending.del).toBe(1);
  });

  it('indexes a new submission in the write that attaches it, for twice the retention', async () => {
    const { registrationId } = await created();
    await store.update(registrationId, (record) => ({
      ...record,
      status: 'INITIATED',
      submission: {
        submissionId: `sub-${registrationId}`,
        createdAt: clock,
        documents: {
          KTP: { url: '', reference: 'k', expiresAt: clock + 1 },
          SELFIE: { url: '', reference: 's', expiresAt: clock + 1 },
        },
      },
    }));
    expect(await store.submissions.find(`sub-${registrationId}`)).toBe(registrationId);
    const ttl = await redis.pttl(keys.submission(`sub-${registrationId}`));
    expect(ttl).toBeGreaterThan(RETENTION);
    expect(ttl).toBeLessThanOrEqual(RETENTION * 2);
  });

  it('frees the user slot and drops the images in the write that ends it, once', async () => {
    const record = await created();
    const { registrationId } = record;
    const slot = keys.inFlight(record.partnerUserIdType, record.partnerUserId);
    await redis.set(keys.image(registrationId, 'ktp'), 'sealed', 'PX', 60_000);
    expect(await redis.get(slot)).toBe(registrationId);
    clock += 1_000;
    const ended = (current: RegistrationRecord): RegistrationRecord => ({
      ...current,
      status: 'FAILED',
      result: { status: 'FAILED', result: null } as never,
    });
    await store.update(registrationId, ended);
    expect(await redis.exists(slot, keys.image(registrationId, 'ktp'))).toBe(0);
    expect(await redis.pttl(keys.record(registrationId))).toBeGreaterThan(RETENTION - 5_000);

    // A later write of the ended record: its index score follows (the trim goes by it).
    clock += 1_000;
    const counts = await commandsDuring(() =>
      store.update(registrationId, (current) => ({ ...current, pollAttempts: 9 })),
    );
    expect(counts).toEqual({ evalsha: 1, get: 1, set: 1, zadd: 1 });
    expect(await redis.zscore(statusIndexKey(prefix, 'FAILED'), registrationId)).toBe(
      String(clock),
    );
  });

  it('reads records in one MGET for a sweep, without taking them as first guesses', async () => {
    const first = await created();
    const second = await created();
    const elsewhere = new RegistrationStore({
      redis: other,
      prefix,
      retentionMs: RETENTION,
      now: () => clock,
    });
    const ids = [first.registrationId, 'reg-none', second.registrationId];
    const read = await commandsDuring(async () => {
      const records = await elsewhere.getMany(ids);
      expect(records.map((record) => record?.registrationId)).toEqual([ids[0], undefined, ids[2]]);
    });
    expect(read).toEqual({ mget: 1 });
    // Not remembered: the next write reads the record first.
    const counts = await commandsDuring(() =>
      elsewhere.update(first.registrationId, (record) => ({ ...record, pollAttempts: 4 })),
    );
    expect(counts).toEqual({ evalsha: 1, get: 2, set: 1 });
  });

  it('leaves a slot another registration holds when this one ends', async () => {
    const record = await created();
    const slot = keys.inFlight(record.partnerUserIdType, record.partnerUserId);
    await redis.set(slot, 'someone-else');
    await store.update(record.registrationId, (current) => ({
      ...current,
      status: 'FAILED',
      result: { status: 'FAILED', result: null } as never,
    }));
    expect(await redis.get(slot)).toBe('someone-else');
  });
});
