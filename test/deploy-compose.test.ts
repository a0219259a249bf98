import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { registrationRequestSchema } from '../src/lib/registration/request-schema.ts';
import { runTool } from './support/promtool.ts';

const root = new URL('../', import.meta.url).pathname;

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  container_name?: string;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
}
const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const service = (name: string): Service => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
/** `${NAME:-default}` as compose resolves it with NAME unset. */
const resolved = (value = '') => value.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  it('passes docker-compose config validation', () => {
    const run = runTool('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      aptPackage: 'docker-compose',
      cwd: root,
    });
    expect(run.status, run.output).toBe(0);
  });

  it('runs Redis with AOF everysec and noeviction on a volume, with a healthcheck', () => {
    const redis = service('redis');
    expect(redis.image).toBe('redis:7-alpine');
    const args = (redis.command ?? []).join(' ');
    expect(args).toContain('--appendonly yes');
    expect(args).toContain('--appendfsync everysec');
    expect(args).toContain('--maxmemory-policy noeviction');
    const volume = redis.volumes?.find((v) => v.endsWith(':/data'));
    expect(volume).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(volume!.split(':')[0]);
    expect(redis.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('runs each product command from the one production image, the simulator from its own', () => {
    expect(service('worker').command).toEqual(['worker']);
    expect(service('listener').command).toEqual(['listener']);
    for (const name of ['worker', 'listener', 'demo']) {
      expect(service(name).image, name).toBe('esign-worker:local');
      expect(service(name).build, name).toBe('.');
    }
    expect(service('sandbox').command).toEqual(['sandbox']);
    expect(service('sandbox').image).toBe('esign-sandbox:local');
    expect(service('sandbox').build).toEqual({ context: '.', target: 'sandbox' });
  });

  it('lets workers scale: no container name, no host port', () => {
    const worker = service('worker');
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(worker.environment?.METRICS_PORT).toBe('9464');
  });

  it('wires the sandbox callbacks to the listener with one shared bearer secret', () => {
    const sandbox = service('sandbox').environment ?? {};
    const listener = service('listener').environment ?? {};
    expect(sandbox.SANDBOX_HOST).toBe('0.0.0.0');
    expect(sandbox.SANDBOX_PUBLIC_URL).toBe('http://sandbox:8090');
    expect(sandbox.SANDBOX_CALLBACK_URL).toBe(
      `http://listener:${listener.CALLBACK_PORT}${listener.CALLBACK_PATH}`,
    );
    expect(sandbox.SANDBOX_CALLBACK_AUTH).toBe('bearer');
    expect(listener.CALLBACK_AUTH).toBe('bearer');
    expect(resolved(sandbox.SANDBOX_CALLBACK_SECRET)).not.toBe('');
    expect(sandbox.SANDBOX_CALLBACK_SECRET).toBe(listener.CALLBACK_AUTH_SECRET);
    expect(service('listener').ports).toContain('8080:8080');
    expect(listener.HEALTHCHECK_PORT).toBe(listener.CALLBACK_PORT);
  });

  it('points the workers at the sandbox with the credentials it accepts', () => {
    const worker = service('worker').environment ?? {};
    const sandbox = service('sandbox').environment ?? {};
    expect(worker.ESIGN_API_URL).toBe(sandbox.SANDBOX_PUBLIC_URL);
    expect(worker.ESIGN_TOKEN_URL).toBe(sandbox.SANDBOX_PUBLIC_URL);
    expect(worker.ESIGN_CLIENT_ID).toBe(sandbox.SANDBOX_CLIENT_ID);
    expect(worker.ESIGN_PASS_KEY).toBe(sandbox.SANDBOX_PASS_KEY);
    expect(worker.ESIGN_ONBOARDING_PARTNER).toBe(sandbox.SANDBOX_ONBOARDING_PARTNER);
    expect(worker.REDIS_URL).toBe('redis://redis:6379');
  });

  it('mounts files that exist, where Prometheus and Grafana look for them', () => {
    for (const [name, svc] of Object.entries(compose.services))
      for (const volume of svc.volumes ?? [])
        if (volume.startsWith('./'))
          expect(existsSync(`${root}${volume.split(':')[0]}`), `${name}: ${volume}`).toBe(true);
    expect(service('prometheus').volumes).toEqual(
      expect.arrayContaining([
        './deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
        './deploy/alerts.yml:/etc/prometheus/alerts.yml:ro',
      ]),
    );
    expect(service('grafana').volumes).toEqual(
      expect.arrayContaining([
        './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
        './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
    expect(service('grafana').environment).toMatchObject({
      GF_AUTH_ANONYMOUS_ENABLED: 'true',
      GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
    });
  });

  it('enqueues demo registrations that the producer accepts', () => {
    const demo = service('demo');
    expect(demo.volumes).toContain('./deploy/demo:/demo:ro');
    expect(demo.command?.join(' ')).toContain('esign-worker.js enqueue');
    const files = readdirSync(`${root}deploy/demo`).filter((f) =>
      /^registration-.*\.json$/.test(f),
    );
    expect(files.length).toBeGreaterThanOrEqual(2);
    const users = new Set<string>();
    for (const file of files) {
      const parsed = registrationRequestSchema.safeParse(
        JSON.parse(readFileSync(`${root}deploy/demo/${file}`, 'utf8')),
      );
      expect(parsed.error?.issues, file).toBeUndefined();
      users.add(parsed.data!.partnerUserId);
    }
    // The worker allows one registration in flight per partner user.
    expect(users.size).toBe(files.length);
  });
});
