import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/**
 * The package as another service installs it: the compiled dist/ and the bin, no src/, no
 * TypeScript. Built here into a temporary folder, so the test never depends on a stale dist/.
 */
describe('the installed package', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'esign-package-'));
    await run(
      process.execPath,
      [
        resolve('node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(root, 'dist'),
      ],
      { timeout: 120_000 },
    );
    await mkdir(join(root, 'bin'));
    await cp('bin/esign-worker.js', join(root, 'bin/esign-worker.js'));
    await cp('package.json', join(root, 'package.json'));
    await symlink(resolve('node_modules'), join(root, 'node_modules'), 'dir');
  }, 180_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs the bin from dist/ without src/', async () => {
    const { stdout } = await run(process.execPath, [join(root, 'bin/esign-worker.js'), 'help']);
    expect(stdout).toContain('usage: esign-worker <command>');
  });

  it('fails on a bad environment the same way as in a checkout', async () => {
    const error = (await run(process.execPath, [join(root, 'bin/esign-worker.js'), 'worker'], {
      env: { PATH: process.env.PATH ?? '' },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(1);
    expect(error.stderr).toContain('ESIGN_API_URL: is required');
  });

  it('exports the producer API from its entry point', async () => {
    const entry = (await import(join(root, 'dist/index.js'))) as Record<string, unknown>;
    expect(typeof entry.createProducer).toBe('function');
    expect(typeof entry.registrationRequestSchema).toBe('object');
    expect(entry.RESULTS_QUEUE).toBe('results');
    expect(entry.RESULT_FORMAT_VERSION).toBe(1);
  });

  it('reports its package.json version in esign_worker_build_info from dist/ too', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const { Metrics } = (await import(join(root, 'dist/lib/metrics.js'))) as {
      Metrics: new (options: { defaultMetrics: boolean }) => { text(): Promise<string> };
    };
    expect(await new Metrics({ defaultMetrics: false }).text()).toContain(
      `esign_worker_build_info{version="${version}",node_version="${process.version}"} 1`,
    );
  });

  it('holds no simulator, demo or benchmark, and says so when asked for one', async () => {
    const entry = (await import(join(root, 'dist/index.js'))) as Record<string, unknown>;
    for (const name of ['startSandbox', 'nikForScenario', 'scenarioNames', 'runDemo'])
      expect(entry[name], name).toBeUndefined();
    for (const tool of ['sandbox', 'demo']) {
      const error = (await run(process.execPath, [join(root, 'bin/esign-worker.js'), tool], {
        env: { PATH: process.env.PATH ?? '' },
      }).catch((e: unknown) => e)) as { code: number; stderr: string };
      expect(error.code, tool).toBe(1);
      expect(error.stderr.trim()).toBe(
        `"esign-worker ${tool}" is a development tool and is not included in the installed ` +
          `package: run it from a checkout of the repository (npm ci && npx esign-worker ${tool}).`,
      );
    }
  });

  it('packs only the product: no sandbox/, demo/, bench/ or test/ file', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      timeout: 60_000,
    });
    const [pack] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = pack.files.map((file) => file.path);
    expect(paths).toContain('bin/esign-worker.js');
    expect(paths.filter((path) => /^(sandbox|demo|bench|test|src)\//.test(path))).toEqual([]);
    expect(paths.filter((path) => /sandbox|demo|synthetic/.test(path))).toEqual([]);
  });
});
