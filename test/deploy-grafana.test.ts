import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { Metrics, queueNames } from '../src/lib/metrics.ts';
import {
  exportedSeriesNames,
  prometheusSeries,
  promqlMetricNames,
} from './support/metric-names.ts';
import { promtool } from './support/promtool.ts';

const grafana = new URL('../deploy/grafana/', import.meta.url).pathname;
const deploy = new URL('../deploy/', import.meta.url).pathname;

interface DataSourceRef {
  type?: string;
  uid: string;
}
interface ThresholdStep {
  color: string;
  value: number | null;
}
interface Target {
  refId: string;
  expr: string;
  datasource?: DataSourceRef;
  instant?: boolean;
  range?: boolean;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: DataSourceRef;
  targets?: Target[];
  fieldConfig?: {
    defaults: {
      noValue?: string;
      mappings?: { type: string; options: Record<string, { text?: string; color?: string }> }[];
      thresholds?: { mode: string; steps: ThresholdStep[] };
      custom?: { thresholdsStyle?: { mode: string } };
    };
  };
  options?: { reduceOptions?: { calcs: string[] } };
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  datasource?: DataSourceRef;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  current?: { value: unknown };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}
interface AlertRule {
  alert: string;
  expr: string;
  labels: { severity: 'warning' | 'critical' };
}

const dashboard = JSON.parse(
  readFileSync(`${grafana}dashboards/esign-worker.json`, 'utf8'),
) as Dashboard;
const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
const exprsOf = (panel: Panel) => (panel.targets ?? []).map((target) => target.expr);
const allExprs = graphs.flatMap(exprsOf);
const panel = (title: string): Panel => {
  const found = graphs.find((p) => p.title === title);
  if (!found) throw new Error(`the dashboard has no panel "${title}"`);
  return found;
};
const variable = (name: string): Variable => {
  const found = dashboard.templating.list.find((v) => v.name === name);
  if (!found) throw new Error(`the dashboard has no variable $${name}`);
  return found;
};
const alertRules = (
  parse(readFileSync(`${deploy}alerts.yml`, 'utf8')) as {
    groups: { rules: AlertRule[] }[];
  }
).groups.flatMap((group) => group.rules);

/** Every data source reference anywhere in the dashboard (panels, queries, variables). */
function dataSourceRefs(node: unknown): unknown[] {
  if (Array.isArray(node)) return node.flatMap(dataSourceRefs);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>).flatMap(([key, value]) =>
    key === 'datasource' ? [value] : dataSourceRefs(value),
  );
}

/** The label matchers (`{…}`, or '' when bare) of every place `expr` reads a metric. */
function selectors(expr: string): { metric: string; matchers: string }[] {
  return promqlMetricNames(expr).flatMap((metric) =>
    [...expr.matchAll(new RegExp(`(?<![\\w:"$])${metric}(?![\\w:])(\\{[^}]*\\})?`, 'g'))].map(
      ([, matchers = '']) => ({ metric, matchers }),
    ),
  );
}

/** The threshold color a value gets: that of the last step at or below it. */
function colorAt(steps: ThresholdStep[], value: number): string | undefined {
  return steps.filter((step) => step.value === null || step.value <= value).at(-1)?.color;
}

/**
 * The level an alert compares against: the first `> N` with N above zero, else `== 0` (a 0/1
 * gauge at 0), else none (the alert fires on any rate above zero: no line to draw).
 */
function alertLevel(rule: AlertRule): { above: number } | { zero: true } | undefined {
  const above = /\s>\s*(0\.\d+|[1-9]\d*(?:\.\d+)?)\b/.exec(rule.expr)?.[1];
  if (above) return { above: Number(above) };
  if (/==\s*0\s*$/.test(rule.expr)) return { zero: true };
  return undefined;
}

/** Which dashboard panel shows what each alert watches, so its level can be drawn there. */
const watchedBy: Record<string, string | null> = {
  EsignJobsFailing: 'Failed jobs share per step',
  EsignQueueBacklogHigh: 'Waiting jobs per queue',
  EsignQueueBacklogGrowing: 'Waiting jobs per queue',
  EsignCallbacksMissing: 'Results via poll (share)',
  EsignRedisUnreachable: 'Redis up',
  EsignTargetDown: 'Scrape targets up',
  // Any failure or time-out at all fires these: there is no level to draw.
  EsignRegistrationsTimedOut: null,
  EsignTokenFetchFailing: null,
};
const severityColor = { warning: 'orange', critical: 'red' } as const;

describe('Grafana dashboard', () => {
  const provisioned = parse(
    readFileSync(`${grafana}provisioning/datasources/prometheus.yml`, 'utf8'),
  ) as { datasources: { uid: string; type: string; url: string }[] };

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
    const read = new Set(allExprs.flatMap(promqlMetricNames));
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
    expect(reads(/firing alerts/i, /ALERTS\{alertstate="firing"/)).toBe(true);
    expect(reads(/running versions/i, /esign_worker_build_info/)).toBe(true);
  });

  it('has a failure ratio per step: failed / (completed + failed) jobs, as EsignJobsFailing', () => {
    const ratio = panel('Failed jobs share per step');
    const [expr = ''] = exprsOf(ratio);
    const [numerator = '', denominator = ''] = expr.split(' / ');
    expect(numerator).toMatch(/^sum by \(queue\) \(rate\(esign_worker_jobs_total\{/);
    expect(numerator).toContain('outcome="failed"');
    expect(denominator).toMatch(/^sum by \(queue\) \(rate\(esign_worker_jobs_total\{/);
    expect(denominator).toContain('outcome=~"completed|failed"');
    // The alert's window, so the line and the alert agree.
    const alert = alertRules.find((rule) => rule.alert === 'EsignJobsFailing')!;
    const window = /\[(\d+m)\]/.exec(alert.expr)?.[1];
    expect(expr.match(/\[[^\]]+\]/g)).toEqual([`[${window}]`, `[${window}]`]);
    expect(ratio.fieldConfig?.defaults).toMatchObject({ unit: 'percentunit' });
  });

  it('lists the esign-worker alerts firing now', () => {
    const firing = panel('Firing alerts');
    const [target] = firing.targets ?? [];
    expect(target?.expr).toMatch(/ALERTS\{alertstate="firing",alertname=~"Esign\.\*"/);
    expect(target?.instant).toBe(true);
    for (const { alert } of alertRules) expect(alert, 'matched by the panel').toMatch(/^Esign/);
  });

  it('queries whichever Prometheus $datasource selects, by default the provisioned one', () => {
    const source = variable('datasource');
    expect(source).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(provisioned.datasources[0]?.type).toBe('prometheus');
    expect(provisioned.datasources[0]?.url).toBe('http://prometheus:9090');
    expect(source.current?.value).toBe(provisioned.datasources[0]?.uid);
    // No hard-coded data source anywhere: every panel, query and query variable uses it.
    const refs = dataSourceRefs(dashboard);
    expect(refs.length).toBeGreaterThan(graphs.length + allExprs.length);
    for (const ref of refs) expect(ref).toEqual({ type: 'prometheus', uid: '${datasource}' });
    for (const panel of graphs) {
      expect(panel.datasource, panel.title).toBeDefined();
      for (const target of panel.targets ?? [])
        expect(target.datasource, panel.title).toBeDefined();
    }
    for (const v of dashboard.templating.list)
      if (v.type === 'query') expect(v.datasource, v.name).toBeDefined();
  });

  it('uses only defined variables, and its query variables read exported metrics', async () => {
    const exported = await exportedSeriesNames();
    const variables = new Set(dashboard.templating.list.map((v) => v.name));
    for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const metric = /^label_values\((\w+), \w+\)$/.exec(v.definition ?? '')?.[1] ?? '';
      expect(exported.has(metric), `variable ${v.name}: ${metric}`).toBe(true);
    }
    for (const panel of graphs)
      for (const expr of exprsOf(panel))
        for (const [, name = ''] of expr.matchAll(/\$\{?(\w+)\}?/g))
          if (!name.startsWith('__'))
            expect(variables.has(name), `${panel.title}: $${name}`).toBe(true);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
  });

  it('filters every query by $instance, from the processes that export build info', () => {
    expect(variable('instance')).toMatchObject({
      type: 'query',
      definition: 'label_values(esign_worker_build_info, instance)',
      multi: true,
      includeAll: true,
      allValue: '.*',
    });
    for (const panel of graphs)
      for (const expr of exprsOf(panel)) {
        const read = selectors(expr);
        expect(read.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const { metric, matchers } of read)
          expect(matchers, `${panel.title}: ${metric}`).toMatch(/\binstance=~"\$instance\|?"/);
      }
  });

  it('offers every queue in $queue, results included, wherever a queue is selectable', async () => {
    const queue = variable('queue');
    expect(queue).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
    const metric = /^label_values\((\w+), queue\)$/.exec(queue.definition ?? '')?.[1] ?? '';
    // The queue values the variable's metric carries, from a process that sees every queue.
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.watchQueues({
      counts: () => Promise.resolve({ waiting: 0, active: 0 }),
      redisUp: () => Promise.resolve(true),
    });
    const series = await metrics.registry.getSingleMetric(metric)?.get();
    const offered = new Set(series?.values.map((value) => value.labels.queue));
    expect([...offered].sort()).toEqual([...queueNames].sort());
    expect(offered.has('results')).toBe(true);
    const filtered = allExprs.filter((expr) => expr.includes('$queue'));
    expect(filtered.length).toBeGreaterThanOrEqual(5);
    for (const expr of filtered) expect(expr).toMatch(/\bqueue=~"\$queue"/);
  });

  it('draws each alert level as a threshold on the panel that shows what it watches', () => {
    expect(Object.keys(watchedBy).sort()).toEqual(alertRules.map((rule) => rule.alert).sort());
    const drawn = new Map<string, Set<number>>();
    for (const rule of alertRules) {
      const title = watchedBy[rule.alert];
      const level = alertLevel(rule);
      if (title === null) {
        expect(level, `${rule.alert} has a level: draw it`).toBeUndefined();
        continue;
      }
      expect(level, rule.alert).toBeDefined();
      const watched = panel(title!);
      const steps = watched.fieldConfig?.defaults.thresholds?.steps ?? [];
      const levels = drawn.get(title!) ?? new Set<number>();
      drawn.set(title!, levels);
      if (level && 'above' in level) {
        expect(steps, `${rule.alert} > ${level.above} on "${title}"`).toContainEqual({
          color: severityColor[rule.labels.severity],
          value: level.above,
        });
        levels.add(level.above);
      } else {
        // A 0/1 gauge: 0 is the alert's colour, 1 is fine.
        expect(colorAt(steps, 0), `${rule.alert} at 0`).toBe(severityColor[rule.labels.severity]);
        expect(colorAt(steps, 1), `${rule.alert} at 1`).toBe('green');
        levels.add(1);
      }
      if (watched.type === 'timeseries')
        expect(watched.fieldConfig?.defaults.custom?.thresholdsStyle?.mode, title).toMatch(
          /line|dashed|area/,
        );
    }
    // And no panel draws a level no alert has (a stale number after an alert changed).
    for (const panel of graphs) {
      const steps = panel.fieldConfig?.defaults.thresholds?.steps ?? [];
      for (const step of steps.slice(1))
        expect(drawn.get(panel.title)?.has(step.value!), `${panel.title}: ${step.value}`).toBe(
          true,
        );
    }
  });

  it('shows Redis DOWN from the current value, and when nothing reports at all', () => {
    const redis = panel('Redis up');
    const [target] = redis.targets ?? [];
    // The current value: an instant query reduced with "last", never the last non-null value
    // of a range, which would keep showing UP across a gap in the data.
    expect(target?.instant).toBe(true);
    expect(redis.options?.reduceOptions?.calcs).toEqual(['last']);
    // No series (no process reports) is 0, so it shows DOWN too.
    expect(target?.expr).toMatch(/^min\(esign_worker_redis_up\{[^}]*\}\) or vector\(0\)$/);
    const mapping = redis.fieldConfig?.defaults.mappings?.[0]?.options ?? {};
    expect(mapping['0']).toMatchObject({ text: 'DOWN', color: 'red' });
    expect(mapping['1']).toMatchObject({ text: 'UP', color: 'green' });
    expect(redis.fieldConfig?.defaults.noValue).toMatch(/^DOWN/);
  });

  describe('every query, with its variables filled in', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'esign-dashboard-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    it('is valid PromQL (promtool check rules)', () => {
      const fill = (expr: string) =>
        expr
          .replaceAll('$__rate_interval', '1m')
          .replaceAll('$instance', '.*')
          .replaceAll('$queue', '.*');
      const rules = graphs.flatMap((panel) =>
        (panel.targets ?? []).map((target) => ({
          record: `dashboard:panel_${panel.id}:${target.refId}`,
          expr: fill(target.expr),
        })),
      );
      for (const { expr } of rules) expect(expr).not.toContain('$');
      const file = join(scratch, 'dashboard-rules.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const run = promtool(['check', 'rules', file]);
      expect(run.status, run.output).toBe(0);
      expect(run.output).toContain(`SUCCESS: ${rules.length} rules found`);
    });
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
