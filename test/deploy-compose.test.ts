import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/lib/config.ts';
import { checkImageSources, imagePolicyFromConfig } from '../src/lib/images/index.ts';
import { registrationRequestSchema } from '../src/lib/registration/request-schema.ts';
import { runTool } from './support/promtool.ts';

const root = new URL('../', import.meta.url).pathname;
const defaultPolicy = imagePolicyFromConfig(loadConfig({}, ['pipeline']).pipeline);

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
  depends_on?: string[] | Record<string, unknown>;
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
/** The variables .env.example asks for, each given a value as a user would. */
const filledEnv = Object.fromEntries(
  readFileSync(`${root}.env.example`, 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=$/.test(line))
    .map((line) => [line.slice(0, -1), `value-of-${line.slice(0, -1).toLowerCase()}`]),
);
const composeConfig = (env: Record<string, string>) =>
  runTool('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
    aptPackage: 'docker-compose',
    cwd: root,
    // Without the caller's environment, so a secret set in the shell cannot hide a default.
    env: { PATH: process.env.PATH ?? '', ...env },
  });

// docker-compose v1 takes seconds per `config` run, over ten on a loaded machine, and the
// secrets test runs it once per secret: more than the default 30 s test timeout.
describe('docker-compose.yml', { timeout: 120_000 }, () => {
  it('passes docker-compose config validation with the variables .env.example lists', () => {
    expect(Object.keys(filledEnv).sort()).toEqual([
      'CALLBACK_AUTH_SECRET',
      'ESIGN_CLIENT_ID',
      'ESIGN_PASS_KEY',
      'PII_ENCRYPTION_KEY',
      'UI_PASSWORD',
      'UI_USERNAME',
    ]);
    const run = composeConfig(filledEnv);
    expect(run.status, run.output).toBe(0);
  });

  it('has no default secret: without .env it refuses, naming what is missing', () => {
    for (const missing of Object.keys(filledEnv)) {
      const run = composeConfig({ ...filledEnv, [missing]: '' });
      expect(run.status, missing).not.toBe(0);
      expect(run.output).toContain(`set ${missing} in .env`);
    }
    // One docker-compose run per variable, each a few seconds on a busy machine.
  }, 90_000);

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
    expect(service('ui').command).toEqual(['ui']);
    for (const name of ['worker', 'listener', 'ui', 'demo']) {
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
    expect(sandbox.SANDBOX_CALLBACK_SECRET).toMatch(/^\$\{CALLBACK_AUTH_SECRET:\?/);
    expect(sandbox.SANDBOX_CALLBACK_SECRET).toBe(listener.CALLBACK_AUTH_SECRET);
    // Only the callback is published; the ops port stays on the compose network.
    expect(service('listener').ports).toEqual(['8080:8080']);
    expect(listener.METRICS_PORT).toBe('9465');
    expect(listener.HEALTHCHECK_PORT).toBe(listener.METRICS_PORT);
    expect(listener.METRICS_HOST).toBe('0.0.0.0');
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

  it("serves the queue UI on 3030 with the login from .env, on the workers' Redis and prefix", () => {
    const ui = service('ui').environment ?? {};
    const worker = service('worker').environment ?? {};
    expect(service('ui').ports).toEqual(['3030:3030']);
    expect(ui).toMatchObject({ UI_HOST: '0.0.0.0', UI_PORT: '3030', HEALTHCHECK_PORT: '3030' });
    expect(ui.UI_USERNAME).toMatch(/^\$\{UI_USERNAME:\?/);
    expect(ui.UI_PASSWORD).toMatch(/^\$\{UI_PASSWORD:\?/);
    expect(ui.UI_READ_ONLY).toBeUndefined();
    expect(ui.REDIS_URL).toBe(worker.REDIS_URL);
    expect(ui.QUEUE_PREFIX).toBe(worker.QUEUE_PREFIX);
    // It needs no Esign setting and no PII key.
    expect(Object.keys(ui).filter((name) => /^(ESIGN_|PII_)/.test(name))).toEqual([]);
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

  it('runs Alertmanager with deploy/alertmanager.yml, started before Prometheus sends to it', () => {
    const alertmanager = service('alertmanager');
    expect(alertmanager.image).toMatch(/^prom\/alertmanager:v\d+\.\d+\.\d+$/);
    expect(alertmanager.volumes).toContain(
      './deploy/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro',
    );
    expect(alertmanager.command).toContain('--config.file=/etc/alertmanager/alertmanager.yml');
    expect(alertmanager.ports).toEqual(['9093:9093']);
    const dependsOn = service('prometheus').depends_on ?? [];
    expect(Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn)).toContain('alertmanager');
  });

  it('enqueues demo registrations that the producer accepts', async () => {
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
      // Their images pass the enqueue's checks as compose runs it (no IMAGE_* set: defaults).
      expect(await checkImageSources(parsed.data!.images, defaultPolicy), file).toEqual([]);
      users.add(parsed.data!.partnerUserId);
    }
    // The worker allows one registration in flight per partner user.
    expect(users.size).toBe(files.length);
  });
});
