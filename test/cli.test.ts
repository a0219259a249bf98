import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands as commandTable } from '../src/app/cli.ts';
import { runCli } from './support/cli.ts';
import { cleanPrefix, connect, keysUnder, redisUrl, uniquePrefix } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';

const cli = runCli;

describe('esign-worker CLI', () => {
  let redis: Redis;
  let prefix: string;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    redis = connect();
    prefix = uniquePrefix('cli');
    dir = await mkdtemp(join(tmpdir(), 'esign-cli-'));
    env = {
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      ESIGN_PARTNER_USER_ID_TYPE: 'CLI_USER',
      IMAGE_ROOT: dir,
      PII_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    };
  });
  afterAll(async () => {
    await cleanPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints its usage', async () => {
    const run = await cli(['help'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: esign-worker <command>');
  });

  it('fails at start naming every misconfigured variable, without echoing values', async () => {
    const run = await cli(['worker'], {
      ...env,
      ESIGN_API_URL: 'ftp://secret-host',
      ESIGN_PASS_KEY: '',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ESIGN_API_URL: must be an http(s) URL');
    expect(run.stderr).toContain('ESIGN_PASS_KEY: is required');
    expect(run.stderr).toContain('ESIGN_TOKEN_URL: is required');
    expect(run.stderr).not.toContain('secret-host');
  });

  it('enqueue prints only the registrationId; status shows it without PII', async () => {
    const who = person();
    const file = join(dir, 'request.json');
    await writeFile(file, JSON.stringify(registrationRequest(who)));
    const enqueued = await cli(['enqueue', file], env);
    expect(enqueued.stderr).toBe('');
    expect(enqueued.code).toBe(0);
    const id = enqueued.stdout.trim();
    expect(enqueued.stdout).toBe(`${id}\n`);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const status = await cli(['status', id], env);
    expect(status.code).toBe(0);
    const view = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({
      registrationId: id,
      status: 'QUEUED',
      result: null,
      reasonCode: null,
      submissionId: null,
      source: null,
    });
    for (const secret of [who.name, who.nik, who.email, who.phoneNumber, who.dateOfBirth])
      expect(status.stdout).not.toContain(secret);
  });

  it('enqueue reads stdin with "-"', async () => {
    const run = await cli(['enqueue', '-'], env, JSON.stringify(registrationRequest(person())));
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('enqueue of a bad request lists the problems on stderr, exits non-zero and writes nothing', async () => {
    const request = registrationRequest(person());
    request.userDetails.nik = '123';
    const before = await keysUnder(redis, prefix);
    const run = await cli(['enqueue', '-'], env, JSON.stringify({ ...request, partnerUserId: '' }));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('userDetails.nik: must be exactly 16 digits');
    expect(run.stderr).toContain('partnerUserId:');
    expect(await keysUnder(redis, prefix)).toEqual(before);
  });

  it('status of an unknown id exits 3', async () => {
    const run = await cli(['status', 'no-such-registration'], env);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe('registration no-such-registration does not exist\n');
  });

  it('enqueue of an existing registration says so on stderr; stdout stays the id', async () => {
    const request = { ...registrationRequest(person()), registrationId: randomUUID() };
    const first = await cli(['enqueue', '-'], env, JSON.stringify(request));
    expect(first.stderr).toBe('');
    const again = await cli(['enqueue', '-'], env, JSON.stringify(request));
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`${request.registrationId}\n`);
    expect(again.stderr).toBe(
      `registration ${request.registrationId} already exists (status QUEUED): nothing new was enqueued\n`,
    );
  });

  it('--help on every command prints its usage, exits 0 and starts nothing', async () => {
    // No configuration at all: a command that started would fail on it instead.
    const commands = Object.keys(commandTable);
    const runs = await Promise.all(
      commands.map((command, i) =>
        cli([command, i % 2 ? '-h' : '--help'], { PATH: process.env.PATH ?? '' }),
      ),
    );
    runs.forEach((run, i) => {
      expect(run.code, commands[i]).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^usage: esign-worker ${commands[i]}\\b`));
      expect(run.stderr).toBe('');
    });
  }, 60_000);

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const run = await cli(['--version'], {});
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`esign-worker ${version}\n`);
    // As `npx esign-worker -- --version` passes it: the `--` is only npx's.
    const throughNpx = await cli(['--', '--version'], {});
    expect(throughNpx.stdout).toBe(`esign-worker ${version}\n`);
  });

  it('a usage mistake exits 2 with the command usage', async () => {
    const mistakes = [
      ['enqueue'],
      ['status', 'a', 'b'],
      ['worker', '--frobnicate'],
      ['inspect'],
      ['retry'],
      ['retry', 'a', 'b', 'c'],
      ['list', '--status'],
      ['pause', '--all'],
    ];
    const runs = await Promise.all(mistakes.map((args) => cli(args, env)));
    runs.forEach((run, i) => {
      expect(run.code, mistakes[i]!.join(' ')).toBe(2);
      expect(run.stderr).toContain(`usage: esign-worker ${mistakes[i]![0]}`);
    });
  }, 60_000);

  it('with Redis down, status, enqueue and the ops commands exit 69 with one line, no stack trace', async () => {
    const down = { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
    for (const [args, stdin] of [
      [['status', 'any-id'], undefined],
      [['enqueue', '-'], JSON.stringify(registrationRequest(person()))],
      [['list', '--status', 'FAILED'], undefined],
      [['inspect', 'any-id'], undefined],
      [['pause'], undefined],
    ] as const) {
      const run = await cli([...args], down, stdin);
      expect(run.code, args[0]).toBe(69);
      expect(run.stderr).toMatch(
        /^Redis is unavailable \(check REDIS_URL, or REDIS_CLUSTER_NODES \/ REDIS_SENTINELS\): .+\n$/,
      );
    }
  }, 60_000);

  it('an enqueue Redis cannot make durable as asked exits 69 naming REDIS_NOT_DURABLE', async () => {
    // The test Redis has no replica: WAIT 1 cannot be met.
    const wants = { ...env, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '100' };
    const request = registrationRequest(person(), { registrationId: 'cli-not-durable-1' });
    const run = await cli(['enqueue', '-'], wants, JSON.stringify(request));
    expect(run.code).toBe(69);
    expect(run.stderr).toMatch(
      /^Redis is unavailable: REDIS_NOT_DURABLE: registration cli-not-durable-1 was written, but replicas confirmed it 0 of 1 times within 100 ms.*\n$/,
    );
  }, 60_000);

  it('lists rules between variables together with every other problem', async () => {
    const run = await cli(['listener'], { ...env, CALLBACK_AUTH: 'none', CALLBACK_PORT: 'eighty' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('CALLBACK_PORT:');
    expect(run.stderr).toContain('CALLBACK_AUTH: none accepts forged results');
  });

  it('an unknown command exits non-zero with the usage', async () => {
    const run = await cli(['frobnicate'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "frobnicate"');
  });
});
