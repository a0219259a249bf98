import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '../src/lib/redis-topology.ts';
import { runCli } from './support/cli.ts';
import { connectTopology } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';
import { until } from './support/until.ts';

/**
 * The ops commands with QUEUE_PARTITIONS=3: registrations spread over three prefixes, each with
 * its own status index, queues and pause ledger. `list` merges the partitions, `inspect` and
 * `retry` find a registration through the directory, `pause`/`resume` reach every partition.
 */
describe('ops commands over partitions', { timeout: 120_000 }, () => {
  let stack: Stack;
  let redis: RedisClient;
  beforeAll(async () => {
    stack = await startStack({ env: { QUEUE_PARTITIONS: '3' } });
    redis = connectTopology();
  });
  afterAll(async () => {
    redis.disconnect();
    await stack.close();
  });
  const cli = (...args: string[]) => runCli(args, stack.env);
  const resultOf = (id: string, attempt: number) =>
    until(() => stack.results.find((r) => r.registrationId === id && (r.attempt ?? 1) === attempt));

  it('lists, inspects and retries registrations whichever partition holds them', async () => {
    const completed = await Promise.all(
      Array.from({ length: 12 }, () =>
        stack.producer.enqueueRegistration(registrationRequest(person('completed'))),
      ),
    );
    for (const { registrationId } of completed) await resultOf(registrationId, 1);
    // Twelve registrations of twelve users (by a hash of the user): more than one partition
    // holds some, but for a chance of 3 in 3^12.
    const holders = new Set(
      await Promise.all(
        completed.map(async ({ registrationId }) => {
          const partitions = stack.worker?.pipelines ?? [];
          // The partition whose prefix holds the record (its step jobs are gone once done).
          for (const [index, pipeline] of partitions.entries()) {
            const key = `${String(pipeline.queues.steps.initiate.opts.prefix)}:registration:${registrationId}`;
            if (await redis.exists(key)) return index;
          }
          return -1;
        }),
      ),
    );
    expect(holders.size).toBeGreaterThan(1);
    expect(holders.has(-1)).toBe(false);

    const listed = await cli('list', '--status', 'COMPLETED', '--json');
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.stdout) as { registrationId: string }[]).map(
      (entry) => entry.registrationId,
    );
    expect(ids.sort()).toEqual(completed.map((c) => c.registrationId).sort());
    const two = await cli('list', '--status', 'COMPLETED', '--limit', '2');
    expect(two.stdout.trim().split('\n')).toHaveLength(2);

    for (const { registrationId } of completed) {
      const shown = await cli('inspect', registrationId);
      expect(shown.code).toBe(0);
      const parsed = JSON.parse(shown.stdout) as {
        registration: { registrationId: string; status: string };
        jobs: { queue: string; id: string }[];
      };
      expect(parsed.registration).toMatchObject({ registrationId, status: 'COMPLETED' });
      expect(parsed.jobs).toContainEqual(
        expect.objectContaining({ queue: 'results', id: `${registrationId}-1` }),
      );
    }

    // A FAILED one (a 400 on confirm), retried through the directory.
    const request = registrationRequest(person('completed'));
    stack.sandbox.setFaults({ failNext: { confirm: 1 }, failStatus: 400 });
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    expect(await resultOf(registrationId, 1)).toMatchObject({ status: 'FAILED' });
    stack.sandbox.setFaults({ failStatus: 500 });
    const file = join(stack.imageRoot, `${registrationId}.json`);
    await writeFile(file, JSON.stringify(request));
    expect(await cli('retry', registrationId, file)).toMatchObject({
      code: 0,
      stdout: `${registrationId}\tattempt 2\n`,
    });
    expect(await resultOf(registrationId, 2)).toMatchObject({ status: 'COMPLETED', attempt: 2 });
  });

  it('pause and resume reach every partition', async () => {
    const paused = await cli('pause', 'initiate');
    expect(paused.code).toBe(0);
    expect(paused.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^initiate\[0\]\tpaused\tsince /),
      expect.stringMatching(/^initiate\[1\]\tpaused\tsince /),
      expect.stringMatching(/^initiate\[2\]\tpaused\tsince /),
    ]);
    let resumed = false;
    try {
      const enqueued = await Promise.all(
        Array.from({ length: 12 }, () =>
          stack.producer.enqueueRegistration(registrationRequest(person('completed'))),
        ),
      );
      const waiting = async () => {
        let count = 0;
        for (const pipeline of stack.worker?.pipelines ?? [])
          count += await pipeline.queues.steps.initiate.getJobCountByTypes('wait');
        return count;
      };
      await until(async () => (await waiting()) === enqueued.length);
      for (const { registrationId } of enqueued)
        expect((await stack.producer.getRegistration(registrationId))?.status).toBe('QUEUED');

      const run = await cli('resume');
      resumed = true;
      expect(run.code).toBe(0);
      expect(run.stdout.match(/\trunning/g)).toHaveLength(15); // five steps × three partitions
      for (const { registrationId } of enqueued)
        expect(await resultOf(registrationId, 1)).toMatchObject({ status: 'COMPLETED' });
    } finally {
      if (!resumed) await cli('resume');
    }
  });
});
