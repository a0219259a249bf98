import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../bench/args.ts';
import { memoryTokenStore } from '../bench/memory-token-store.ts';
import { countRequest, parseMonitorLine } from '../bench/monitor.ts';
import { cpuMsFromStat } from '../bench/proc.ts';
import { parseInfo, sampleFromInfo, subtractSamples, totalCalls } from '../bench/redis-info.ts';
import { StagePool } from '../bench/stage-pool.ts';
import { parseMonitorArgs, storeKeyKind } from '../bench/store-cost-parse.ts';
import { formatSpread, percentile, spread } from '../bench/stats.ts';

// The benchmark's own arithmetic and parsing; the benchmark itself is run by hand
// (`npm run bench`), never timed in a test.

const info = [
  '# Stats',
  'total_commands_processed:120',
  'total_reads_processed:40',
  '',
  '# Memory',
  'used_memory:1048576',
  '# CPU',
  'used_cpu_sys:1.250000',
  'used_cpu_user:2.500000',
  '# Commandstats',
  'cmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0',
  'cmdstat_hset:calls=25,usec=50,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=3,usec=75,usec_per_call=25.00,rejected_calls=1,failed_calls=0',
].join('\r\n');

describe('bench statistics', () => {
  it('gives the median of odd and even counts with the range', () => {
    expect(spread([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5 });
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(formatSpread(spread([0.5, 0.7, 0.6]), 2)).toBe('0.60 [0.50–0.70]');
  });

  it('says n/a, not a number, when nothing was measured', () => {
    expect(formatSpread(spread([]))).toBe('n/a');
    expect(Number.isNaN(percentile([], 99))).toBe(true);
  });

  it('takes the nearest-rank percentile', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
  });
});

describe('bench INFO parsing', () => {
  it('reads fields and sums the calls of every command', () => {
    const fields = parseInfo(info);
    expect(fields.get('used_memory')).toBe('1048576');
    expect(fields.has('# Stats')).toBe(false);
    expect(totalCalls(fields)).toBe(38);
  });

  it('turns INFO into CPU ms, calls, reads and memory, and takes deltas', () => {
    const sample = sampleFromInfo(info);
    expect(sample).toEqual({ cpuMs: 3750, calls: 38, reads: 40, usedMemory: 1_048_576 });
    const later = { cpuMs: 3800, calls: 138, reads: 45, usedMemory: 1_048_000 };
    expect(subtractSamples(later, sample)).toEqual({
      cpuMs: 50,
      calls: 100,
      reads: 5,
      usedMemory: -576,
    });
  });

  it('refuses an INFO without the fields it needs', () => {
    expect(() => sampleFromInfo('# CPU\r\nused_cpu_sys:1\r\n')).toThrow(/used_cpu_user/);
  });
});

describe('bench /proc parsing', () => {
  it('reads utime + stime after a command name with spaces and parentheses', () => {
    const rest = Array.from({ length: 40 }, (_, i) => String(i + 3));
    rest[11] = '250'; // utime (field 14)
    rest[12] = '50'; // stime (field 15)
    expect(cpuMsFromStat(`1234 (node (x) y) ${rest.join(' ')}`, 100)).toBe(3000);
  });
});

describe('bench options', () => {
  it('has defaults, and --quick runs one smaller setting', () => {
    expect(parseArgs([])).toMatchObject({ quick: false, workers: 1, partitions: 1, count: 200 });
    expect(parseArgs([]).settings).toHaveLength(3);
    const quick = parseArgs(['--quick', '--cluster', '--workers', '2', '--partitions', '3']);
    expect(quick).toMatchObject({
      quick: true,
      cluster: true,
      workers: 2,
      partitions: 3,
      count: 80,
      rounds: 3,
    });
    expect(quick.settings).toEqual([{ latencyMs: 20, concurrency: 8 }]);
  });

  it('names every bad option at once', () => {
    expect(() => parseArgs(['--workers', '0', '--fast', '--count', 'x'])).toThrow(
      /--workers: must be[\s\S]*--fast: unknown option[\s\S]*--count: must be/,
    );
  });

  it('prints its usage for npm run bench -- --help and starts nothing', () => {
    const run = spawnSync(process.execPath, ['bench/main.ts', '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: npm run bench -- \[--quick\] \[--cluster\]/);
    expect(run.stdout).not.toMatch(/redis:/);
  });
});

describe('bench baseline parts', () => {
  it('runs a stage at most `concurrency` at a time and reports its first failure', async () => {
    let running = 0;
    let most = 0;
    const pool = new StagePool<number>(3, async (item) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      if (item === 7) throw new Error('item 7 failed');
    });
    for (let i = 0; i < 10; i += 1) pool.push(i);
    await expect(pool.drained()).rejects.toThrow('item 7 failed');
    expect(most).toBe(3);
  });

  it('keeps the hash and lock of the token cache in memory, compare-and-delete included', async () => {
    const store = memoryTokenStore();
    expect(await store.set('lock', 'me', 'PX', 1000, 'NX')).toBe('OK');
    expect(await store.set('lock', 'you', 'PX', 1000, 'NX')).toBeNull();
    expect(await store.eval('GET lock', 1, 'lock', 'you')).toBe(0);
    expect(await store.eval('GET lock', 1, 'lock', 'me')).toBe(1);
    await store.multi().del('token').hset('token', { token: 't1', expiresAt: 5 }).pexpire().exec();
    expect(await store.hgetall('token')).toEqual({ token: 't1', expiresAt: '5' });
    expect(await store.eval('HGET token', 1, 'token', 't2')).toBe(0);
    expect(await store.eval('HGET token', 1, 'token', 't1')).toBe(1);
    expect(await store.hgetall('token')).toEqual({});
  });
});

describe('bench request counting (MONITOR lines)', () => {
  it('counts each client command once, a MULTI block once, and script calls not at all', () => {
    const inMulti = new Set<string>();
    const lines: [string[], string][] = [
      [['evalsha', 'abc', '1', 'k'], '127.0.0.1:5000'],
      [['hget', 'k', 'f'], 'lua'],
      [['set', 'k', 'v'], 'lua'],
      [['MULTI'], '127.0.0.1:5001'],
      [['get', 'a'], '127.0.0.1:5000'],
      [['hset', 'b', 'f', 'v'], '127.0.0.1:5001'],
      [['pexpire', 'b', '10'], '127.0.0.1:5001'],
      [['EXEC'], '127.0.0.1:5001'],
      [['hset', 'c', 'f', 'v'], '127.0.0.1:5001'],
    ];
    const counted = lines.map(([args, source]) => countRequest(inMulti, args, source));
    expect(counted).toEqual([1, 0, 0, 1, 1, 0, 0, 0, 1]);
    expect(inMulti.size).toBe(0);
  });
});

describe('bench MONITOR lines', () => {
  it('reads the source and the command; a script call comes from lua', () => {
    expect(
      parseMonitorLine('+1795783430.879645 [0 127.0.0.1:51552] "scan" "0" "MATCH" "a b"'),
    ).toEqual(['127.0.0.1:51552', 'scan']);
    expect(parseMonitorLine('+1795783430.9 [0 lua] "hget" "k" "f"')).toEqual(['lua', 'hget']);
    expect(parseMonitorLine('+OK')).toBeUndefined();
  });

  it('splits a MONITOR line into its arguments and tells the store keys (store-cost)', () => {
    expect(
      parseMonitorArgs('+1.5 [0 127.0.0.1:5] "evalsha" "ab" "1" "p:registration:r\\"1"'),
    ).toEqual(['127.0.0.1:5', ['evalsha', 'ab', '1', 'p:registration:r"1']]);
    expect(parseMonitorArgs('+1.5 [0 lua] "set" "k" "\\x00v"')).toEqual([
      'lua',
      ['set', 'k', '?v'],
    ]);
    expect(storeKeyKind('p:registration:r1', 'p')).toBe('store registration');
    expect(storeKeyKind('p:registrations-by-status:QUEUED', 'p')).toBe(
      'store registrations-by-status',
    );
    expect(storeKeyKind('p:registration-image:r1:ktp', 'p')).toBe('store registration-image');
    expect(storeKeyKind('p:initiate:1', 'p')).toBeUndefined();
  });
});
