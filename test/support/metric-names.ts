import { Metrics } from '../../src/lib/metrics.ts';

/**
 * Every series name the service can export: each metric of a Metrics registry (with the
 * default Node.js metrics), histograms expanded to their _bucket, _sum and _count series.
 */
export async function exportedSeriesNames(): Promise<Set<string>> {
  const metrics = new Metrics();
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

/** Series Prometheus itself adds: to every target, and ALERTS for the alerts of its rules. */
export const prometheusSeries = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'ALERTS',
]);

const promqlKeywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const promqlOperators = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/**
 * The metric names a PromQL expression reads. A name is an identifier followed by a selector
 * (`{` or `[`), or a bare identifier that is not a function, keyword, operator or label list
 * entry. Label names inside `{…}` and `by (…)` and quoted strings are removed first.
 */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\$\{?\w+\}?/g, '0');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const after = stripped.slice((match.index ?? 0) + word.length).trimStart();
    if (after.startsWith('(')) continue; // a function call
    if (promqlKeywords.has(word) || promqlOperators.has(word)) continue;
    if (/^\d/.test(word)) continue;
    // Durations like 5m leave "m" after the digits; numbers are not names.
    const before = stripped.slice(0, match.index ?? 0);
    if (/[0-9.]$/.test(before)) continue;
    names.add(word);
  }
  return [...names];
}
