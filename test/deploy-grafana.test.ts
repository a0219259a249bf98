import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  exportedSeriesNames,
  prometheusSeries,
  promqlMetricNames,
} from './support/metric-names.ts';

const grafana = new URL('../deploy/grafana/', import.meta.url).pathname;

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
}

const dashboard = JSON.parse(
  readFileSync(`${grafana}dashboards/esign-worker.json`, 'utf8'),
) as Dashboard;
const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
const exprsOf = (panel: Panel) => (panel.targets ?? []).map((target) => target.expr);

describe('Grafana dashboard', () => {
  it('has a query in every panel, each reading only metrics the service exports', async () => {
    const exported = await exportedSeriesNames();
    expect(graphs.length).toBeGreaterThanOrEqual(10);
    for (const panel of graphs) {
      expect(exprsOf(panel).length, panel.title).toBeGreaterThan(0);
      for (const expr of exprsOf(panel)) {
        const names = promqlMetricNames(expr);
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names)
          expect(exported.has(name) || prometheusSeries.has(name), `${panel.title}: ${name}`).toBe(
            true,
          );
      }
    }
  });

  it('shows every esign_worker metric somewhere', async () => {
    const read = new Set(graphs.flatMap(exprsOf).flatMap(promqlMetricNames));
    const histogramBase = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set([...read].map(histogramBase));
    for (const name of await exportedSeriesNames())
      if (name.startsWith('esign_worker_') && !/_(bucket|sum|count)$/.test(name))
        expect(shown.has(name), name).toBe(true);
  });

  it('has the panels operators look for', () => {
    const find = (pattern: RegExp) => graphs.find((panel) => pattern.test(panel.title));
    const reads = (title: RegExp, expr: RegExp) =>
      exprsOf(find(title) ?? { id: 0, type: '', title: '' }).some((e) => expr.test(e));
    expect(reads(/throughput per step/i, /esign_worker_jobs_total/)).toBe(true);
    expect(reads(/latency per step/i, /histogram_quantile.*job_duration_seconds_bucket/)).toBe(
      true,
    );
    expect(reads(/latency per esign endpoint/i, /by \(le, endpoint\)/)).toBe(true);
    expect(reads(/errors by code/i, /by \(queue, code\)/)).toBe(true);
    expect(reads(/status class/i, /status_class/)).toBe(true);
    expect(reads(/queue depth/i, /by \(queue, state\)/)).toBe(true);
    expect(reads(/callbacks vs polls/i, /callbacks_total/)).toBe(true);
    expect(reads(/callbacks vs polls/i, /polls_total/)).toBe(true);
    expect(reads(/registrations finished/i, /by \(status, result, source\)/)).toBe(true);
    expect(reads(/time to result/i, /histogram_quantile\(0\.5,/)).toBe(true);
    expect(reads(/time to result/i, /histogram_quantile\(0\.95,/)).toBe(true);
    expect(reads(/token fetches/i, /token_fetches_total/)).toBe(true);
    expect(reads(/redis up/i, /esign_worker_redis_up/)).toBe(true);
  });

  it('uses only defined dashboard variables and queries the provisioned data source', async () => {
    const exported = await exportedSeriesNames();
    const variables = new Set(dashboard.templating.list.map((variable) => variable.name));
    for (const variable of dashboard.templating.list) {
      const metric = /^label_values\((\w+),/.exec(variable.definition ?? '')?.[1] ?? '';
      expect(exported.has(metric), `variable ${variable.name}: ${metric}`).toBe(true);
    }
    const provisioned = parse(
      readFileSync(`${grafana}provisioning/datasources/prometheus.yml`, 'utf8'),
    ) as { datasources: { uid: string; url: string }[] };
    const uid = provisioned.datasources[0]?.uid;
    expect(provisioned.datasources[0]?.url).toBe('http://prometheus:9090');
    for (const panel of graphs) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      for (const expr of exprsOf(panel))
        for (const [, name = ''] of expr.matchAll(/\$(\w+)/g))
          if (!name.startsWith('__'))
            expect(variables.has(name), `${panel.title}: $${name}`).toBe(true);
    }
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
  });

  it('is loaded by the dashboard provider from the folder compose mounts', () => {
    const provider = parse(
      readFileSync(`${grafana}provisioning/dashboards/dashboards.yml`, 'utf8'),
    ) as { providers: { type: string; options: { path: string } }[] };
    expect(provider.providers[0]).toMatchObject({
      type: 'file',
      options: { path: '/var/lib/grafana/dashboards' },
    });
  });
});
