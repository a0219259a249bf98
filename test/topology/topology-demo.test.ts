import { Writable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { runDemo } from '../../demo/run.ts';
import { scenarioNames } from '../../sandbox/index.ts';
import { connectTopology } from '../support/redis.ts';
import { scanKeys } from '../../src/lib/redis-scan.ts';

/** `npm run demo` with REDIS_CLUSTER_NODES or REDIS_SENTINELS(+_MASTER): the project's topology. */
describe('the demo on Redis Cluster / behind Sentinel', () => {
  it('runs every scenario to its predicted outcome on the given topology and leaves no keys', async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const redisEnv = inject('redisEnv');
    const code = await runDemo({
      env: { ...redisEnv, LOG_LEVEL: 'silent' },
      count: scenarioNames.length,
      out,
    });
    const text = chunks.join('');
    expect(code, text).toBe(0);
    expect(text).toMatch(redisEnv.REDIS_CLUSTER_NODES ? /^Redis cluster /m : /^Redis sentinel /m);
    expect(text).toContain('registrations ended as their scenarios predict');
    const prefix = /queue prefix (demo-[0-9a-f]+)/.exec(text)?.[1];
    expect(prefix).toBeDefined();
    const redis = connectTopology();
    try {
      const left: string[] = [];
      for await (const keys of scanKeys(redis, `*${prefix}*`)) left.push(...keys);
      expect(left).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
