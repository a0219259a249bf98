import { Queue } from 'bullmq';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducerApp } from '../src/app/producer-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { ValidationError, WorkerError } from '../src/lib/errors.ts';
import { syntheticJpeg } from '../sandbox/synthetic-images.ts';
import type { Producer } from '../src/queues/producer.ts';
import { cleanPrefix, connect, keysUnder, redisUrl, uniquePrefix } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** The producer API other services rely on; no worker runs, so nothing moves past QUEUED. */
describe('enqueueRegistration', () => {
  let redis: Redis;
  let prefix: string;
  let producer: Producer;
  let imageRoot: string;

  beforeAll(async () => {
    redis = connect();
    prefix = uniquePrefix('producer');
    imageRoot = await mkdtemp(join(tmpdir(), 'esign-producer-'));
    const config = loadConfig(
      {
        REDIS_URL: redisUrl(),
        QUEUE_PREFIX: prefix,
        ESIGN_PARTNER_USER_ID_TYPE: 'DEFAULT_TYPE',
        IMAGE_ROOT: imageRoot,
        IMAGE_URL_ALLOWED_HOSTS: 'images.example.com',
        MAX_IMAGE_BYTES: '50000',
        PII_ENCRYPTION_KEY: 'a'.repeat(64),
      },
      ['common', 'pipeline', 'producer', 'pii'],
    );
    producer = createProducerApp(config, { name: 'test-producer' });
  });
  afterAll(async () => {
    await producer.close();
    await cleanPrefix(redis, prefix);
    await redis.quit();
    await rm(imageRoot, { recursive: true, force: true });
  });

  async function problemsOf(request: unknown): Promise<string[]> {
    try {
      await producer.enqueueRegistration(request);
    } catch (error) {
      if (error instanceof ValidationError) return [...error.problems];
      throw error;
    }
    throw new Error('expected a ValidationError');
  }

  it('rejects an invalid request with every problem listed and writes nothing', async () => {
    const who = person();
    const request = registrationRequest(who) as Record<string, unknown> &
      ReturnType<typeof registrationRequest>;
    const before = await keysUnder(redis, prefix);
    const problems = await problemsOf({
      ...request,
      registrationId: 'has:colon',
      userDetails: {
        ...request.userDetails,
        nik: '12345',
        dateOfBirth: '31-02-1990',
        email: undefined,
        phoneNumber: undefined,
      },
      consentData: [],
      images: {
        ktp: { path: '../../etc/passwd' },
        selfie: { url: 'https://evil.example.org/x.jpg' },
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^registrationId: /),
        'userDetails.nik: must be exactly 16 digits',
        'userDetails.dateOfBirth: must be a real calendar date',
        'userDetails.email: at least one of email or phoneNumber is required',
        'consentData: at least one consent is required',
      ]),
    );
    expect(await keysUnder(redis, prefix)).toEqual(before);
    // No value of the request is echoed back.
    expect(problems.join('\n')).not.toContain(who.name);
  });

  it('lists image problems with the field, after the schema passed', async () => {
    const request = registrationRequest(person(), {
      images: {
        ktp: { path: '../outside.jpg' },
        selfie: { url: 'https://evil.example.org/x.jpg' },
      },
    });
    const problems = await problemsOf(request);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^images\.ktp: /);
    expect(problems[1]).toMatch(/^images\.selfie: /);
  });

  it('refuses a NIK sent as a number, saying why', async () => {
    const request = registrationRequest(person());
    const problems = await problemsOf({
      ...request,
      // eslint-disable-next-line no-loss-of-precision -- the point: a number cannot carry this NIK
      userDetails: { ...request.userDetails, nik: 9471020101900001 },
    });
    expect(problems).toEqual([
      expect.stringContaining('userDetails.nik: must be a string of 16 digits, not a number'),
    ]);
  });

  it('accepts path images inside IMAGE_ROOT and fills the default user id type', async () => {
    await writeFile(join(imageRoot, 'ktp.jpg'), syntheticJpeg(7));
    const request = registrationRequest(person(), {
      images: { ktp: { path: 'ktp.jpg' }, selfie: { path: join(imageRoot, 'ktp.jpg') } },
    });
    const outcome = await producer.enqueueRegistration(request);
    expect(outcome).toMatchObject({ created: true, status: 'QUEUED' });
    const view = await producer.getRegistration(outcome.registrationId);
    expect(view).toMatchObject({
      partnerUserIdType: 'DEFAULT_TYPE',
      images: { ktp: 'path', selfie: 'path' },
      userDetails: 'sealed',
    });
  });

  it('returns the existing registration for a known registrationId, never a second one', async () => {
    const request = registrationRequest(person(), { registrationId: `idem-${Date.now()}` });
    const first = await producer.enqueueRegistration(request);
    const again = await producer.enqueueRegistration(request);
    expect(first.created).toBe(true);
    expect(again).toEqual({
      registrationId: first.registrationId,
      created: false,
      status: 'QUEUED',
    });
    // Even after its jobs are gone, the record answers.
    const initiate = (await redis.keys(`${prefix}:initiate:${first.registrationId}*`)).length;
    await redis.del(...(await redis.keys(`${prefix}:initiate:*`)));
    expect(initiate).toBeGreaterThan(0);
    expect((await producer.enqueueRegistration(request)).created).toBe(false);
  });

  it('refuses a second registration while the partner user has one in flight', async () => {
    const first = await producer.enqueueRegistration(
      registrationRequest(person(), { partnerUserId: 'user-busy-1' }),
    );
    const error = await producer
      .enqueueRegistration(registrationRequest(person(), { partnerUserId: 'user-busy-1' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerError);
    expect((error as WorkerError).code).toBe('REGISTRATION_IN_FLIGHT');
    expect((error as WorkerError).message).toContain(first.registrationId);
  });

  it('takes over a user slot whose holder is gone or ended without freeing it', async () => {
    const gone = await producer.enqueueRegistration(
      registrationRequest(person(), { partnerUserId: 'user-stale-1' }),
    );
    await redis.del(`${prefix}:registration:${gone.registrationId}`); // expired, or deleted by hand
    const next = await producer.enqueueRegistration(
      registrationRequest(person(), { partnerUserId: 'user-stale-1' }),
    );
    expect(next.created).toBe(true);

    // Ended (a result is on record) but the slot was never freed: a crash before the release.
    const key = `${prefix}:registration:${next.registrationId}`;
    const record = JSON.parse((await redis.get(key)) ?? '{}') as Record<string, unknown>;
    await redis.set(
      key,
      JSON.stringify({ ...record, status: 'COMPLETED', result: { status: 'COMPLETED' } }),
    );
    const third = await producer.enqueueRegistration(
      registrationRequest(person(), { partnerUserId: 'user-stale-1' }),
    );
    expect(third.created).toBe(true);
  });

  it('a refused enqueue gives a holder that never got its first job one', async () => {
    const holder = await producer.enqueueRegistration(
      registrationRequest(person(), { partnerUserId: 'user-stranded-1' }),
    );
    const jobKey = `${prefix}:initiate:${holder.registrationId}-initiate-g0`;
    // A crash between writing the record and adding its job: the job is missing.
    const initiate = new Queue('initiate', { connection: redis, prefix });
    await initiate.remove(`${holder.registrationId}-initiate-g0`);
    expect(await redis.exists(jobKey)).toBe(0);
    await expect(
      producer.enqueueRegistration(
        registrationRequest(person(), { partnerUserId: 'user-stranded-1' }),
      ),
    ).rejects.toMatchObject({ code: 'REGISTRATION_IN_FLIGHT' });
    expect(await redis.exists(jobKey)).toBe(1);
    await initiate.close();
  });

  it('keeps the PII sealed at rest when a key is configured', async () => {
    const who = person();
    const { registrationId } = await producer.enqueueRegistration(registrationRequest(who));
    const raw = (await redis.get(`${prefix}:registration:${registrationId}`)) ?? '';
    expect(raw).toContain(registrationId);
    for (const secret of [who.name, who.nik, who.email, who.phoneNumber, who.userIp])
      expect(raw).not.toContain(secret);
  });
});

describe('the JSON Schema for producers in other languages', () => {
  it('is the one generated from the zod schema (run `npm run schema` after changing it)', async () => {
    const { registrationRequestJsonSchema } =
      await import('../src/lib/registration/json-schema.ts');
    const committed = JSON.parse(
      await readFile('schema/registration-request.schema.json', 'utf8'),
    ) as unknown;
    expect(committed).toEqual(registrationRequestJsonSchema());
  });
});
