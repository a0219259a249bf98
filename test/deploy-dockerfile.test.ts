import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validate } from 'dockerfile-utils';
import { afterEach, describe, expect, inject, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;
const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const finalStage = instructions.slice(
  instructions.findLastIndex((line) => line.startsWith('FROM ')),
);

/** The HEALTHCHECK's exec-form command, exactly as Docker runs it. */
function healthcheckCommand(): string[] {
  const line = instructions.find((l) => l.startsWith('HEALTHCHECK '));
  const json = /CMD (\[.*\])$/.exec(line ?? '')?.[1];
  return JSON.parse(json ?? '[]') as string[];
}

function runHealthcheck(
  port: number,
  variable: 'HEALTHCHECK_PORT' | 'METRICS_PORT' = 'HEALTHCHECK_PORT',
): Promise<number | null> {
  const [command, ...args] = healthcheckCommand();
  expect(command).toBe('node');
  return new Promise((resolve, reject) => {
    // process.execPath: the Node 24 running the tests stands in for the image's node.
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH, [variable]: String(port) },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

/** What a deployment sets for the image (ports of its own; the image sets METRICS_PORT). */
function imageLikeEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: `test-healthcheck-${process.pid}`,
    LOG_LEVEL: 'silent',
    CALLBACK_PORT: '0',
    CALLBACK_AUTH: 'bearer',
    CALLBACK_AUTH_SECRET: 'healthcheck-secret',
    ESIGN_TOKEN_URL: 'http://127.0.0.1:9',
    ESIGN_API_URL: 'http://127.0.0.1:9',
    ESIGN_CLIENT_ID: 'c',
    ESIGN_PASS_KEY: 'p',
    ESIGN_ONBOARDING_PARTNER: 'o',
    ESIGN_PARTNER_USER_ID_TYPE: 't',
    PII_ENCRYPTION_KEY: 'a'.repeat(64),
  };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('Dockerfile', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serveHealthz(status: number): Promise<number> {
    server = createServer((request, response) => {
      response.statusCode = request.url === '/healthz' ? status : 404;
      response.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it('passes the Dockerfile linter', () => {
    expect(validate(dockerfile)).toEqual([]);
  });

  it('has a linter that does report problems', () => {
    expect(
      validate('FROM node:24-bookworm-slim\nEXPOSE not-a-port\nCMD ["start"\n').length,
    ).toBeGreaterThan(0);
  });

  it('builds on node:24-bookworm-slim in every stage, production dependencies only at runtime', () => {
    const froms = instructions.filter((line) => line.startsWith('FROM '));
    expect(froms).toEqual([
      'FROM node:24-bookworm-slim AS build',
      'FROM node:24-bookworm-slim AS sandbox',
      'FROM node:24-bookworm-slim AS runtime',
    ]);
    expect(instructions.slice(0, instructions.indexOf(froms[1]!))).toEqual(
      expect.arrayContaining(['RUN npm ci --no-audit --no-fund', 'RUN npm run build']),
    );
    expect(finalStage.some((line) => /^RUN npm ci --omit=dev\b/.test(line))).toBe(true);
    expect(finalStage).toContain('COPY --from=build /app/dist ./dist');
  });

  it('ships no simulator, demo, benchmark or source in the production stage', () => {
    const copies = finalStage.filter((line) => line.startsWith('COPY '));
    expect(copies).toEqual([
      'COPY package.json package-lock.json ./',
      'COPY bin ./bin',
      'COPY --from=build /app/dist ./dist',
    ]);
  });

  it('builds the simulator from its own target, which the compose stack uses', () => {
    const start = instructions.indexOf('FROM node:24-bookworm-slim AS sandbox');
    const stage = instructions.slice(start, instructions.indexOf(finalStage[0]!));
    expect(stage).toContain('COPY sandbox ./sandbox');
    expect(stage.at(-1)).toBe('CMD ["sandbox"]');
  });

  it('runs the CLI as an unprivileged user, `start` by default', () => {
    const user = finalStage.filter((line) => line.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)(:|$)/);
    expect(finalStage).toContain('ENTRYPOINT ["node", "/app/bin/esign-worker.js"]');
    expect(finalStage.at(-1)).toBe('CMD ["start"]');
  });

  it('healthcheck passes when /healthz answers 200 on HEALTHCHECK_PORT', async () => {
    expect(await runHealthcheck(await serveHealthz(200))).toBe(0);
  });

  it('healthcheck probes METRICS_PORT when HEALTHCHECK_PORT is not set', async () => {
    expect(await runHealthcheck(await serveHealthz(200), 'METRICS_PORT')).toBe(0);
  });

  it('healthcheck passes for every long-running command, run as the image runs it', async () => {
    for (const command of ['worker', 'listener', 'start']) {
      const port = await freePort();
      const child = spawn(process.execPath, ['bin/esign-worker.js', command], {
        env: { ...imageLikeEnv(), METRICS_PORT: String(port) },
        stdio: 'ignore',
      });
      try {
        let code: number | null = 1;
        for (let i = 0; i < 100 && code !== 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          code = await runHealthcheck(port, 'METRICS_PORT');
        }
        expect(code, command).toBe(0);
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
  }, 60_000);

  it('healthcheck passes for the queue UI with HEALTHCHECK_PORT at UI_PORT, as compose runs it', async () => {
    const port = await freePort();
    const { PATH, REDIS_URL, QUEUE_PREFIX, LOG_LEVEL } = imageLikeEnv();
    const child = spawn(process.execPath, ['bin/esign-worker.js', 'ui'], {
      // No Esign settings: the UI does not need them. /healthz answers without the login.
      env: {
        PATH,
        REDIS_URL,
        QUEUE_PREFIX,
        LOG_LEVEL,
        UI_PORT: String(port),
        UI_USERNAME: 'u',
        UI_PASSWORD: 'p',
      },
      stdio: 'ignore',
    });
    try {
      let code: number | null = 1;
      for (const deadline = Date.now() + 40_000; code !== 0 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        code = await runHealthcheck(port, 'HEALTHCHECK_PORT');
      }
      expect(code).toBe(0);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 60_000);

  it('healthcheck fails when /healthz answers 503', async () => {
    expect(await runHealthcheck(await serveHealthz(503))).toBe(1);
  });

  it('healthcheck fails when nothing listens', async () => {
    const port = await serveHealthz(200);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await runHealthcheck(port)).toBe(1);
  });

  it('keeps secrets, dependencies and history out of the build context', () => {
    const ignored = readFileSync(`${root}.dockerignore`, 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', '.env', '.env.*', 'dist'])
      expect(ignored).toContain(entry);
    for (const needed of ['src', 'bin', 'package.json', 'package-lock.json', 'tsconfig.json'])
      expect(ignored).not.toContain(needed);
  });
});
