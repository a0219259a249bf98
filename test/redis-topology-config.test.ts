import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/lib/config.ts';
import { describeTopology } from '../src/lib/redis-topology.ts';
import { problemsOf } from './support/problems.ts';

const common = (env: Record<string, string>) => loadConfig(env, ['common']).common;

describe('Redis topology from the environment', () => {
  it('one server by default, the prefix as given', () => {
    const config = common({});
    expect(config.redis).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379', tls: false });
    expect(config.keyPrefix).toBe('esign');
  });

  it('a Cluster from REDIS_CLUSTER_NODES, under a hash-tagged prefix the project adds', () => {
    const config = common({
      REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002',
      REDIS_USERNAME: 'worker',
      REDIS_PASSWORD: 'pw',
      REDIS_TLS: 'true',
      QUEUE_PREFIX: 'esign',
    });
    expect(config.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: 'worker',
      password: 'pw',
      tls: true,
    });
    expect(config.keyPrefix).toBe('{esign}');
    expect(config.QUEUE_PREFIX).toBe('esign');
    expect(common({ REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: '{shared}-esign' }).keyPrefix).toBe(
      '{shared}-esign',
    );
    // The password never reaches a description.
    expect(describeTopology(config.redis)).toBe('cluster 10.0.0.1:7000,10.0.0.2:7001,::1:7002');
  });

  it('Sentinel from REDIS_SENTINELS and REDIS_SENTINEL_MASTER; the prefix stays plain', () => {
    const config = common({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_MASTER: 'm' });
    expect(config.redis).toMatchObject({
      kind: 'sentinel',
      master: 'm',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
    });
    expect(config.keyPrefix).toBe('esign');
  });

  it('names every variable of a combination that cannot work', () => {
    expect(
      problemsOf(() =>
        common({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2', REDIS_URL: 'redis://c' }),
      ),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^REDIS_CLUSTER_NODES: cannot be combined with REDIS_SENTINELS/),
        expect.stringMatching(/^REDIS_URL: cannot be combined with REDIS_CLUSTER_NODES/),
        'REDIS_SENTINEL_MASTER: is required with REDIS_SENTINELS',
      ]),
    );
    expect(problemsOf(() => common({ REDIS_SENTINEL_MASTER: 'm' }))).toEqual([
      'REDIS_SENTINEL_MASTER: needs REDIS_SENTINELS',
    ]);
    expect(problemsOf(() => common({ REDIS_CLUSTER_NODES: 'host-without-port,b:99999' }))).toEqual([
      'REDIS_CLUSTER_NODES: must be host:port[,host:port…]',
    ]);
    expect(problemsOf(() => common({ REDIS_TLS: 'maybe' }))[0]).toMatch(/^REDIS_TLS: /);
  });

  it('QUEUE_PARTITIONS: one prefix by default, else a tag per partition', () => {
    expect(common({}).partitionPrefixes).toEqual(['esign']);
    expect(common({ REDIS_CLUSTER_NODES: 'a:1' }).partitionPrefixes).toEqual(['{esign}']);
    expect(common({ QUEUE_PARTITIONS: '3' }).partitionPrefixes).toEqual([
      '{esign-0}',
      '{esign-1}',
      '{esign-2}',
    ]);
    expect(problemsOf(() => common({ QUEUE_PARTITIONS: '2', QUEUE_PREFIX: '{esign}' }))).toEqual([
      'QUEUE_PREFIX: must be a plain name (no "{}") with QUEUE_PARTITIONS > 1: each partition gets its own tag',
    ]);
    expect(problemsOf(() => common({ QUEUE_PARTITIONS: '0' }))[0]).toMatch(/^QUEUE_PARTITIONS: /);
  });
});
