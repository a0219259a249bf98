import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../src/app/runtime.ts';
import { loadConfig } from '../src/lib/config.ts';
import type { RegistrationStore } from '../src/lib/registration/store.ts';
import { redriveStranded } from '../src/queues/redrive.ts';
import { capturingLogger } from './support/listener.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * The re-drive sweep reads the unfinished records a batch at a time. A record it cannot read
 * (damaged, or written by a newer release) is named in the log and passed over: the stranded
 * registrations in the same batch are still re-driven.
 */
describe('re-drive past an unreadable record', () => {
  let stack: Stack;
  const redis = connect();
  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });

  it('re-drives the stranded registration of a batch that also holds an unreadable record', async () => {
    const enqueue = async () =>
      (await stack.producer.enqueueRegistration(registrationRequest(person('completed'))))
        .registrationId;
    const stranded = await enqueue();
    const damaged = await enqueue();
    // The stranded one's job is gone; the other's record is not JSON any more.
    const initiate = new Queue('initiate', { connection: redis, prefix: stack.prefix });
    await initiate.remove(`${stranded}-initiate-g0`);
    await initiate.close();
    await redis.set(`${stack.prefix}:registration:${damaged}`, 'not a record');

    const config = loadConfig(stack.env, ['common', 'esign', 'pipeline', 'pii']);
    const { logger, lines } = capturingLogger();
    const runtime = createRuntime(config, { connection: { name: 'test-redrive' }, logger });
    const partition = runtime.all[0]!;
    // Both in one batch, the unreadable one first: the order a scan may give.
    const slots = Object.create(partition.store.slots) as RegistrationStore['slots'];
    slots.ids = async function* () {
      yield await Promise.resolve([damaged, stranded]);
    };
    const store = Object.create(partition.store, { slots: { value: slots } }) as RegistrationStore;
    try {
      const redriven = await redriveStranded({
        store,
        queues: partition.queues.steps,
        afterMs: 0,
        now: () => Date.now() + 1_000,
        logger,
      });
      expect(redriven).toBe(1);
      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const redrive = logged.find(
        (entry) => String(entry.msg).endsWith(': re-driven') && entry.registrationId === stranded,
      );
      expect(String(redrive?.jobId)).toMatch(new RegExp(`^${stranded}-initiate-g0-r\\d+$`));
      expect(await partition.queues.steps.initiate.getJobState(String(redrive?.jobId))).toBe(
        'waiting',
      );
      expect(logged).toContainEqual(
        expect.objectContaining({
          registrationId: damaged,
          msg: 'record unreadable: not re-driven',
        }),
      );
      // Named, never quoted: the line holds no byte of the record.
      expect(lines.join('\n')).not.toContain('not a record');
    } finally {
      await runtime.close();
    }
  });
});
