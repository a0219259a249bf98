import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './support/redis.ts';

/**
 * The callback door as a user reaches it: `esign-worker listener|start` as child processes,
 * with only the environment given. Unauthenticated callbacks need an explicit opt-in; the ops
 * endpoints are on their own port; slow senders are cut at the configured timeout.
 */

interface Started {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** The URL of the first log line with this message. */
  url(msg: string): Promise<string>;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

function baseEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: uniquePrefix('door'),
    CALLBACK_HOST: '127.0.0.1',
    CALLBACK_PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  };
}

function run(args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['bin/esign-worker.js', ...args], { env });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  return {
    child,
    lines,
    async url(msg) {
      for (let i = 0; i < 500; i++) {
        const line = lines.find((l) => l.msg === msg);
        if (typeof line?.url === 'string') return line.url;
        await sleep(50);
      }
      throw new Error(`no "${msg}" line`);
    },
  };
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stderr };
}

const callback = { submissionId: 'sub-1', status: 'COMPLETED', result: 'VALID' };
const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/callbacks/esign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(callback),
  });

describe('the callback listener is secure by default', () => {
  it('refuses to start without callback authentication, naming CALLBACK_AUTH', async () => {
    const { code, stderr } = await exitOf(run(['listener'], baseEnv()).child);
    expect(code).toBe(1);
    expect(stderr).toContain('CALLBACK_AUTH: is required');
  });

  it('refuses CALLBACK_AUTH=none without CALLBACK_ALLOW_INSECURE=true', async () => {
    const env = { ...baseEnv(), CALLBACK_AUTH: 'none' };
    const { code, stderr } = await exitOf(run(['listener'], env).child);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^.*CALLBACK_AUTH: none .*CALLBACK_ALLOW_INSECURE=true/m);
  });

  it('refuses the removed CALLBACK_TRUST_PROXY by name', async () => {
    const env = { ...baseEnv(), CALLBACK_AUTH: 'bearer', CALLBACK_AUTH_SECRET: 's3' };
    const { code, stderr } = await exitOf(
      run(['listener'], { ...env, CALLBACK_TRUST_PROXY: 'true' }).child,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('CALLBACK_TRUST_PROXY: is no longer supported');
  });

  it('with the explicit opt-in, starts and warns that auth and the IP allowlist are off', async () => {
    const env = { ...baseEnv(), CALLBACK_AUTH: 'none', CALLBACK_ALLOW_INSECURE: 'true' };
    const started = run(['listener'], env);
    await started.url('listener ready');
    const warnings = started.lines.filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings.some((w) => w.includes('callback authentication is OFF'))).toBe(true);
    expect(warnings.some((w) => w.includes('no CALLBACK_ALLOWED_IPS'))).toBe(true);
  });

  it('accepts the current and the previous secret while rotating, nothing else', async () => {
    const env = {
      ...baseEnv(),
      CALLBACK_AUTH: 'bearer',
      CALLBACK_AUTH_SECRET: 'new-secret',
      CALLBACK_AUTH_PREVIOUS_SECRET: 'old-secret',
    };
    const url = await run(['listener'], env).url('listener ready');
    // 200 needs Redis; 401 is the door refusing. The unknown submission is still taken (200).
    expect((await post(url, { authorization: 'Bearer new-secret' })).status).toBe(200);
    expect((await post(url, { authorization: 'Bearer old-secret' })).status).toBe(200);
    expect((await post(url, { authorization: 'Bearer other' })).status).toBe(401);
    expect((await post(url)).status).toBe(401);
  });

  it('serves /metrics /healthz /readyz on the ops port only, for listener and start', async () => {
    for (const command of ['listener', 'start']) {
      const env = {
        ...baseEnv(),
        CALLBACK_AUTH: 'bearer',
        CALLBACK_AUTH_SECRET: 's3',
        ESIGN_TOKEN_URL: 'http://127.0.0.1:9',
        ESIGN_API_URL: 'http://127.0.0.1:9',
        ESIGN_CLIENT_ID: 'c',
        ESIGN_PASS_KEY: 'p',
        ESIGN_ONBOARDING_PARTNER: 'o',
        ESIGN_PARTNER_USER_ID_TYPE: 't',
        PII_ENCRYPTION_KEY: 'a'.repeat(64),
      };
      const started = run([command], env);
      const callbackUrl = await started.url('listener ready');
      const opsUrl = await started.url('ops endpoints ready (/metrics /healthz /readyz)');
      expect(new URL(opsUrl).hostname, command).toBe('127.0.0.1');
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        expect((await fetch(`${callbackUrl}${path}`)).status, `${command} ${path}`).toBe(404);
        expect((await fetch(`${opsUrl}${path}`)).status, `${command} ${path}`).toBe(200);
      }
      started.child.kill('SIGTERM');
      expect((await exitOf(started.child)).code).toBe(0);
    }
  });

  it('closes a slow-drip connection at CALLBACK_HEADERS_TIMEOUT_MS (±1 s)', async () => {
    const env = {
      ...baseEnv(),
      CALLBACK_AUTH: 'bearer',
      CALLBACK_AUTH_SECRET: 's3',
      CALLBACK_HEADERS_TIMEOUT_MS: '2000',
      CALLBACK_REQUEST_TIMEOUT_MS: '3000',
    };
    const { port } = new URL(await run(['listener'], env).url('listener ready'));
    const socket = tcpConnect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = performance.now();
    socket.write('POST /callbacks/esign HTTP/1.1\r\nHost: x\r\n');
    // One header byte every 200 ms: never finishing, always sending.
    const drip = setInterval(() => socket.writable && socket.write('X'), 200);
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(drip);
    const heldMs = performance.now() - started;
    expect(heldMs).toBeGreaterThan(2000 - 1000);
    expect(heldMs).toBeLessThan(2000 + 1000);
  });

  it('refuses connections past CALLBACK_MAX_CONNECTIONS', async () => {
    const env = {
      ...baseEnv(),
      CALLBACK_AUTH: 'bearer',
      CALLBACK_AUTH_SECRET: 's3',
      CALLBACK_MAX_CONNECTIONS: '2',
    };
    const { port } = new URL(await run(['listener'], env).url('listener ready'));
    const open = () => {
      const socket = tcpConnect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
      return { socket, closedWithin: (ms: number) => Promise.race([closed, sleep(ms, false)]) };
    };
    const held = [open(), open()];
    await sleep(300);
    const third = open();
    expect(await third.closedWithin(2_000)).toBe(true);
    for (const { socket, closedWithin } of held) {
      expect(await closedWithin(10)).toBe(false);
      socket.destroy();
    }
  });
});
