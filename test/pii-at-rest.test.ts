import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storagePrefix } from '../sandbox/storage.ts';
import { sandboxTokenPrefix } from '../sandbox/token.ts';
import { dumpUnder, foundIn } from './support/redis-dump.ts';
import { connect, keysUnder } from './support/redis.ts';
import { person, registrationRequest, type TestPerson } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Issue "KYC data protection": Redis, dumped at any moment of a run with the default
 * production settings (a key, nothing opted out), holds no NIK, name, email, phone, date of
 * birth, IP, device id, image bytes, partner token or presigned URL in plaintext. After a
 * registration's uploads, no image of it is left; after its confirm, no request.
 */
describe('PII at rest in Redis', () => {
  let stack: Stack;
  let redis: Redis;
  beforeAll(async () => {
    // Esign takes a while to decide, so registrations sit confirmed while Redis is dumped. The
    // worker (`esign-worker worker`, default settings) starts once everything is enqueued.
    stack = await startStack({ worker: 'none', sandbox: { processingMs: 1_500 } });
    redis = connect();
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });

  function needles(people: TestPerson[], images: Buffer[]): Record<string, string | Buffer> {
    const found: Record<string, string | Buffer> = {
      token: sandboxTokenPrefix,
      'presigned URL': storagePrefix,
      'URL signature': 'X-Amz-Signature',
      'date of birth': '17-08-1991',
    };
    people.forEach((who, i) => {
      Object.assign(found, {
        [`nik ${i}`]: who.nik,
        [`name ${i}`]: who.name,
        [`email ${i}`]: who.email,
        [`phone ${i}`]: who.phoneNumber,
        [`ip ${i}`]: who.userIp,
        [`device ${i}`]: who.deviceId,
      });
    });
    images.forEach((image, i) => {
      const middle = Math.floor(image.length / 2);
      found[`image ${i} bytes`] = image.subarray(middle, middle + 48);
      const text = image.toString('base64');
      found[`image ${i} base64`] = text.slice(text.length / 2, text.length / 2 + 64);
    });
    return found;
  }

  it('holds none of it during and after a run, and drops images after upload, the request after confirm', async () => {
    const people = Array.from({ length: 6 }, () => person('completed'));
    const requests = people.map((who) => registrationRequest(who));
    const images = requests.flatMap((request) =>
      [request.images.ktp, request.images.selfie].map((source) =>
        Buffer.from((source as { base64: string }).base64, 'base64'),
      ),
    );
    const secrets = needles(people, images);
    const ids: string[] = [];
    for (const request of requests)
      ids.push((await stack.producer.enqueueRegistration(request)).registrationId);

    // Enqueued, nothing run yet: the images are in their own keys, sealed.
    expect(foundIn(await dumpUnder(redis, stack.prefix), secrets)).toEqual([]);
    const stored = await keysUnder(redis, `${stack.prefix}:registration-image:`);
    expect(stored).toHaveLength(2 * ids.length);
    for (const key of stored) {
      // Sealed pieces (image-store.ts): every envelope head says v2 (a key id, encrypted).
      const fields = await redis.hgetallBuffer(key);
      const heads = Object.entries(fields).filter(([name]) => name.startsWith('h'));
      expect(heads.length).toBe(Number(fields['n']?.toString()));
      for (const [, head] of heads) expect(head.subarray(0, 3).toString()).toBe('v2.');
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    }
    // Every in-flight key expires (after the deadline job has ended the registration).
    for (const id of ids)
      expect(await redis.pttl(`${stack.prefix}:registration:${id}`)).toBeGreaterThan(0);
    stack.startProcess('worker');

    const seen = { dumps: 0, confirmedInFlight: 0 };
    const finished = Promise.all(ids.map((id) => stack.waitForResult(id, 30_000)));
    let done = false;
    void finished.finally(() => (done = true));
    while (!done) {
      const dump = await dumpUnder(redis, stack.prefix);
      seen.dumps += 1;
      expect(foundIn(dump, secrets)).toEqual([]);
      for (const id of ids) {
        const text = await redis.get(`${stack.prefix}:registration:${id}`);
        const record = JSON.parse(text ?? '{}') as {
          status?: string;
          sealedRequest?: string;
          submission?: { documents: Record<string, { url?: string }> };
        };
        const imageKeys = await keysUnder(redis, `${stack.prefix}:registration-image:${id}:`);
        if (['QUEUED', 'INITIATED'].includes(record.status ?? 'QUEUED')) continue;
        // UPLOADED and later: no image, no upload URL; CONFIRMED and later: no request.
        expect(imageKeys, `${record.status}`).toEqual([]);
        for (const doc of Object.values(record.submission?.documents ?? {}))
          expect(['', undefined]).toContain(doc.url);
        if (record.status === 'UPLOADED') continue;
        expect(record.sealedRequest).toBeUndefined();
        if (record.status === 'CONFIRMED' || record.status === 'PARTIALLY_COMPLETED')
          seen.confirmedInFlight += 1;
      }
    }
    const results = await finished;
    expect(results.map((result) => result.status)).toEqual(ids.map(() => 'COMPLETED'));
    // The loop really looked at registrations in flight, images stored and confirmed.
    expect(seen.dumps).toBeGreaterThan(3);
    expect(seen.confirmedInFlight).toBeGreaterThan(0);

    expect(foundIn(await dumpUnder(redis, stack.prefix), secrets)).toEqual([]);
    expect(await keysUnder(redis, `${stack.prefix}:registration-image:`)).toEqual([]);
    // The needles are real: the same search finds them in what was enqueued.
    const enqueued = Buffer.concat([
      Buffer.from(JSON.stringify(requests)),
      ...images,
      Buffer.from(`${sandboxTokenPrefix} ${storagePrefix} X-Amz-Signature`),
    ]);
    expect(foundIn(enqueued, secrets)).toEqual(Object.keys(secrets));
  });
});
