import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { amtool } from './support/promtool.ts';

const root = new URL('../', import.meta.url).pathname;
const configPath = `${root}deploy/alertmanager.yml`;
const source = readFileSync(configPath, 'utf8');

interface Route {
  receiver?: string;
  group_by?: string[];
  matchers?: string[];
  routes?: Route[];
}
interface AlertmanagerConfig {
  route: Route;
  receivers: { name: string; [integration: string]: unknown }[];
  inhibit_rules?: { source_matchers: string[]; target_matchers: string[] }[];
}
const config = parse(source) as AlertmanagerConfig;

/**
 * The config with its example integrations uncommented: after `receivers:`, a line `# x` is an
 * example line (it becomes `x`), a line `## x` is prose (it stays a comment).
 */
function withExamples(text: string): string {
  const [head = '', receivers = ''] = text.split(/^receivers:\n/m);
  const uncommented = receivers
    .split('\n')
    .map((line) => (/^\s*##/.test(line) ? line : line.replace(/^(\s*)# /, '$1')))
    .join('\n');
  return `${head}receivers:\n${uncommented}`;
}

const routes = (route: Route): Route[] => [route, ...(route.routes ?? []).flatMap(routes)];
const alertNames = (): string[] => {
  const alerts = parse(readFileSync(`${root}deploy/alerts.yml`, 'utf8')) as {
    groups: { rules: { alert: string; labels: { severity: string } }[] }[];
  };
  return alerts.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
};

describe('Alertmanager config', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'esign-alertmanager-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('passes amtool check-config', () => {
    const run = amtool(['check-config', configPath]);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('SUCCESS');
  });

  it('still passes with every example receiver integration uncommented', () => {
    const examples = withExamples(source);
    const receiver = (parse(examples) as AlertmanagerConfig).receivers[0] ?? {};
    expect(Object.keys(receiver).sort()).toEqual([
      'email_configs',
      'name',
      'slack_configs',
      'webhook_configs',
    ]);
    const file = join(scratch, 'alertmanager.yml');
    writeFileSync(file, examples);
    const run = amtool(['check-config', file]);
    expect(run.status, run.output).toBe(0);
  });

  it('routes every alert to a receiver it defines, grouped by alert name', () => {
    const names = new Set(config.receivers.map((receiver) => receiver.name));
    expect(names.size).toBe(config.receivers.length);
    for (const route of routes(config.route))
      if (route.receiver) expect(names.has(route.receiver), route.receiver).toBe(true);
    // The root route has the default receiver, so no alert can go unrouted.
    expect(config.route.receiver).toBeDefined();
    expect(config.route.group_by).toEqual(['alertname']);
  });

  it('keeps secrets out of the file: any credential is read from a *_file setting', () => {
    const examples = parse(withExamples(source)) as AlertmanagerConfig;
    const text = JSON.stringify(examples);
    for (const key of ['api_url', 'auth_password', 'auth_secret', 'password', 'bot_token'])
      expect(text, key).not.toMatch(new RegExp(`"${key}":`));
  });

  it('matches only alerts that exist: inhibition names real alerts', () => {
    const known = new Set(alertNames());
    for (const rule of config.inhibit_rules ?? [])
      for (const matcher of [...rule.source_matchers, ...rule.target_matchers]) {
        const name = /^alertname="(\w+)"$/.exec(matcher)?.[1];
        if (name) expect(known.has(name), matcher).toBe(true);
      }
  });
});
