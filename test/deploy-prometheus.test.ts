import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  exportedSeriesNames,
  prometheusSeries,
  promqlMetricNames,
} from './support/metric-names.ts';
import { promtool } from './support/promtool.ts';

const deploy = new URL('../deploy/', import.meta.url).pathname;

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): AlertRule[] {
  const file = parse(readFileSync(`${deploy}alerts.yml`, 'utf8')) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((group) => group.rules);
}

describe('Prometheus config and alert rules', () => {
  it('passes promtool check config (which also loads the rule files)', () => {
    const run = promtool(['check', 'config', `${deploy}prometheus.yml`]);
    expect(run.output).toContain('SUCCESS');
    expect(run.status, run.output).toBe(0);
  });

  it('passes promtool check rules', () => {
    const run = promtool(['check', 'rules', `${deploy}alerts.yml`]);
    expect(run.status, run.output).toBe(0);
  });

  it('passes the alert unit tests in alerts.test.yml', () => {
    const run = promtool(['test', 'rules', `${deploy}alerts.test.yml`]);
    expect(run.status, run.output).toBe(0);
  });

  it('unit-tests every alert both firing and not firing', () => {
    const tests = parse(readFileSync(`${deploy}alerts.test.yml`, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test);
    for (const { alert } of alertRules()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} firing`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} not firing`,
      ).toBe(true);
    }
  });

  it('covers the failure modes operators need paging for', () => {
    const exprs = alertRules().map((rule) => rule.expr);
    const reads = (pattern: RegExp) => exprs.some((expr) => pattern.test(expr));
    expect(reads(/esign_worker_jobs_total\{outcome="failed"\}/)).toBe(true);
    expect(reads(/esign_worker_queue_jobs\{state="waiting"\}/)).toBe(true);
    expect(reads(/esign_worker_polls_total/) && reads(/esign_worker_callbacks_total/)).toBe(true);
    expect(reads(/status="TIMED_OUT"/)).toBe(true);
    expect(reads(/esign_worker_token_fetches_total\{outcome="failure"\}/)).toBe(true);
    expect(reads(/esign_worker_redis_up == 0/)).toBe(true);
    expect(reads(/^up\{/)).toBe(true);
  });

  it('gives every alert a severity, summary, description and runbook hint', () => {
    for (const rule of alertRules()) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(warning|critical)$/);
      for (const key of ['summary', 'description', 'runbook'])
        expect(rule.annotations?.[key], `${rule.alert} ${key}`).toBeTruthy();
      expect(rule.annotations?.runbook, rule.alert).toContain(rule.alert);
    }
  });

  it('points every runbook at its own section of docs/operations.md', () => {
    const operations = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
    const sections = new Set(
      [...operations.matchAll(/^### (\w+)$/gm)].map(([, heading = '']) => heading),
    );
    for (const rule of alertRules()) {
      expect(rule.annotations?.runbook, rule.alert).toMatch(
        new RegExp(`^docs/operations\\.md > ${rule.alert}: `),
      );
      expect(sections.has(rule.alert), `### ${rule.alert} in docs/operations.md`).toBe(true);
      // And the alert table links to it.
      expect(operations).toContain(`[\`${rule.alert}\`](#${rule.alert.toLowerCase()})`);
    }
  });

  it('tells a Redis outage (the process answers, redis_up 0) from a process that is down', () => {
    const rule = (name: string) => alertRules().find((r) => r.alert === name);
    expect(rule('EsignRedisUnreachable')?.expr.trim()).toBe('esign_worker_redis_up == 0');
    expect(rule('EsignTargetDown')?.annotations?.runbook).toMatch(/EsignRedisUnreachable/);
    const tests = readFileSync(`${deploy}alerts.test.yml`, 'utf8');
    expect(tests).toMatch(/A Redis outage: every process still answers its scrape/);
  });

  it('reads only metrics the service exports', async () => {
    const exported = await exportedSeriesNames();
    for (const rule of alertRules()) {
      const names = promqlMetricNames(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names)
        expect(exported.has(name) || prometheusSeries.has(name), `${rule.alert}: ${name}`).toBe(
          true,
        );
    }
  });

  it('scrapes the compose services on the ports the commands listen on', () => {
    const config = parse(readFileSync(`${deploy}prometheus.yml`, 'utf8')) as {
      scrape_configs: {
        job_name: string;
        metrics_path?: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    const job = (name: string) => config.scrape_configs.find((c) => c.job_name === name);
    expect(job('esign-worker')?.dns_sd_configs?.[0]).toMatchObject({
      names: ['worker'],
      port: 9464,
    });
    // The listener's ops port (METRICS_PORT in docker-compose.yml), not its callback port.
    expect(job('esign-listener')?.static_configs?.[0]?.targets).toEqual(['listener:9465']);
    expect(job('esign-listener')?.metrics_path ?? '/metrics').toBe('/metrics');
  });

  it("sends alerts to the compose stack's Alertmanager", () => {
    const config = parse(readFileSync(`${deploy}prometheus.yml`, 'utf8')) as {
      alerting?: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };
    const targets = (config.alerting?.alertmanagers ?? []).flatMap((am) =>
      am.static_configs.flatMap((c) => c.targets),
    );
    // The service name and port of the alertmanager service in docker-compose.yml.
    expect(targets).toEqual(['alertmanager:9093']);
  });
});

describe('promqlMetricNames', () => {
  it('finds metric names, not functions, labels, keywords or durations', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.95, sum by (le, queue) (rate(esign_worker_job_duration_seconds_bucket{queue=~"up.*"}[5m]))) ' +
          'and on () (sum(rate(esign_worker_callbacks_total[$__rate_interval])) or vector(0)) == 0 or up offset 5m',
      ).sort(),
    ).toEqual(['esign_worker_callbacks_total', 'esign_worker_job_duration_seconds_bucket', 'up']);
  });
});
