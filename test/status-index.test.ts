import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_FORMAT_VERSION } from '../src/lib/registration/format.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import {
  listByStatus,
  rebuildStatusIndex,
  statusIndexKey,
} from '../src/lib/registration/status-index.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';

/**
 * The per-status index behind `esign-worker list`, on a real Redis: it moves with every
 * compare-and-set, forgets records that expired, and a listing never shows a record that is
 * no longer in the status asked for.
 */
describe('status index', () => {
  let redis: Redis;
  let prefix: string;
  let clock = Date.UTC(2026, 0, 1);
  const RETENTION = 60_000;
  let store: RegistrationStore;

  beforeAll(() => {
    redis = connect();
    prefix = uniquePrefix('index');
    store = new RegistrationStore({ redis, prefix, retentionMs: RETENTION, now: () => clock });
  });
  afterAll(async () => {
    await cleanPrefix(redis, prefix);
    await redis.quit();
  });

  let serial = 0;
  async function created(): Promise<string> {
    serial += 1;
    const registrationId = `reg-${serial}`;
    const record: RegistrationRecord = {
      formatVersion: RECORD_FORMAT_VERSION,
      registrationId,
      partnerUserId: `user-${serial}`,
      partnerUserIdType: 'TEST',
      status: 'QUEUED',
      version: 0,
      enqueuedAt: clock,
      updatedAt: clock,
      generation: 0,
      previousSubmissionIds: [],
      pollAttempts: 0,
      history: [{ status: 'QUEUED', at: clock, source: 'worker' }],
      imageKinds: { ktp: 'base64', selfie: 'base64' },
    };
    expect(await store.create(record)).toEqual({ kind: 'created' });
    return registrationId;
  }
  const fail = (id: string) =>
    store.update(id, (record) => ({ ...record, status: 'FAILED', result: {} as never }));
  const ids = async (status: RegistrationRecord['status'], limit = 100) =>
    (await listByStatus(redis, prefix, status, limit)).map((entry) => entry.registrationId);
  const members = (status: RegistrationRecord['status']) =>
    redis.zrange(statusIndexKey(prefix, status), '0', '-1');

  it('moves a registration between statuses with its record, longest there first', async () => {
    const first = await created();
    clock += 1_000;
    const second = await created();
    expect(await ids('QUEUED')).toEqual([first, second]);
    expect(await ids('QUEUED', 1)).toEqual([first]);

    clock += 1_000;
    await fail(first);
    expect(await ids('QUEUED')).toEqual([second]);
    expect(await ids('FAILED')).toEqual([first]);
    expect(await members('QUEUED')).toEqual([second]);
  });

  it('drops the ids of records that expired, and trims an ended status past retention', async () => {
    const gone = await created();
    const expiring = await created();
    await fail(gone);
    await fail(expiring);
    // A record whose TTL ran out: its id is left in the set until a listing finds it gone.
    await redis.del(`${prefix}:registration:${gone}`);
    expect(await ids('FAILED')).not.toContain(gone);
    expect(await members('FAILED')).not.toContain(gone);

    // Past the retention, the next write into FAILED trims what is older than it.
    clock += RETENTION + 1;
    const later = await created();
    await fail(later);
    expect(await members('FAILED')).toEqual([later]);
  });

  it('does not show a record whose status moved on without the index (an older release)', async () => {
    const id = await created();
    const key = `${prefix}:registration:${id}`;
    const record = JSON.parse((await redis.get(key)) ?? '{}') as RegistrationRecord;
    await redis.set(key, JSON.stringify({ ...record, status: 'INITIATED', version: 1 }));
    expect(await members('QUEUED')).toContain(id);
    expect(await ids('QUEUED')).not.toContain(id);
    expect(await ids('INITIATED')).toEqual([]);
  });

  it('reindex puts records an older release wrote into their sets, once', async () => {
    const id = await created();
    await fail(id);
    // As the previous release leaves it: the record, in no set.
    await redis.zrem(statusIndexKey(prefix, 'FAILED'), id);
    expect(await ids('FAILED')).not.toContain(id);
    expect(await rebuildStatusIndex(redis, prefix)).toBeGreaterThanOrEqual(1);
    expect(await ids('FAILED')).toContain(id);
    // Everything is indexed now: a second run adds nothing.
    expect(await rebuildStatusIndex(redis, prefix)).toBe(0);
  });
});
