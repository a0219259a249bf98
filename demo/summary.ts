import type { RegistrationResult } from '../src/lib/registration/record.ts';
import type { SandboxSnapshot } from '../sandbox/index.ts';
import type { DemoUser, Outcome } from './users.ts';

/**
 * The demo's closing report, and its verdict: counts only (never a name, NIK or contact), and
 * every way the run differs from what the sandbox scenarios predict, as `mismatches`.
 */

export interface SummaryInput {
  users: readonly DemoUser[];
  results: readonly RegistrationResult[];
  sandbox: SandboxSnapshot;
  /** Wall clock of the first enqueue and of the last result, epoch ms. */
  startedAt: number;
  endedAt: number;
}

export interface Summary {
  lines: string[];
  mismatches: string[];
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** Per result: milliseconds from enqueue to the published result. */
export function timesToResult(results: readonly RegistrationResult[]): number[] {
  return results.map((r) => Date.parse(r.finishedAt) - Date.parse(r.enqueuedAt));
}

export function outcomeKey(outcome: Outcome): string {
  return [outcome.status, outcome.result ?? '-', outcome.reasonCode ?? '-'].join(' ');
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

export function summarise(input: SummaryInput): Summary {
  const { users, results, sandbox } = input;
  const lines: string[] = [];
  const mismatches: string[] = [];

  lines.push('Outcomes (status result reasonCode: count)');
  const outcomes = countBy(results, outcomeKey);
  const width = Math.max(0, ...[...outcomes.keys()].map((key) => key.length));
  for (const [key, count] of outcomes) lines.push(`  ${key.padEnd(width)}  ${count}`);

  const sources = countBy(results, (r) => r.source);
  lines.push(
    `Result came by: callback ${sources.get('callback') ?? 0}, poll ${sources.get('poll') ?? 0}` +
      `, worker ${sources.get('worker') ?? 0}`,
  );

  const times = timesToResult(results);
  const elapsedSeconds = Math.max(0.001, (input.endedAt - input.startedAt) / 1000);
  lines.push(
    `Time to result: p50 ${formatMs(percentile(times, 50))}, p95 ${formatMs(percentile(times, 95))}` +
      `, max ${formatMs(percentile(times, 100))}`,
  );
  lines.push(
    `Throughput: ${(results.length / elapsedSeconds).toFixed(1)} registrations/s ` +
      `(${results.length} in ${elapsedSeconds.toFixed(1)} s)`,
  );

  const calls = Object.entries(sandbox.calls)
    .map(([endpoint, byStatus]) => `${endpoint} ${describeStatuses(byStatus)}`)
    .join(', ');
  const dropped = sandbox.callbacks.filter((c) => c.dropped).length;
  const delivered = sandbox.callbacks.filter((c) => c.delivered).length;
  lines.push(`Sandbox calls: ${calls}`);
  lines.push(
    `Sandbox: tokens issued ${sandbox.tokensIssued}, header leaks to storage ` +
      `${sandbox.leaks.length}, callbacks delivered ${delivered}, dropped ${dropped}`,
  );

  if (sandbox.tokensIssued !== 1)
    mismatches.push(`the sandbox issued ${sandbox.tokensIssued} tokens; one shared token expected`);
  if (sandbox.leaks.length > 0)
    mismatches.push(`${sandbox.leaks.length} Esign headers were sent to presigned storage`);
  mismatches.push(...compareWithScenarios(users, results));
  return { lines, mismatches };
}

function compareWithScenarios(
  users: readonly DemoUser[],
  results: readonly RegistrationResult[],
): string[] {
  const problems: string[] = [];
  const byId = new Map(results.map((r) => [r.registrationId, r]));
  users.forEach((user, index) => {
    const label = `user ${index + 1} (scenario ${user.scenario})`;
    const result = byId.get(user.request.registrationId);
    if (!result) {
      problems.push(`${label}: no result`);
      return;
    }
    const got = outcomeKey(result);
    if (got !== outcomeKey(user.expected))
      problems.push(
        `${label}: expected ${outcomeKey(user.expected)}, got ${got}` +
          (result.error ? ` (${result.error.code})` : ''),
      );
  });
  return problems;
}

function describeStatuses(byStatus: Record<string, number>): string {
  const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
  const unusual = Object.entries(byStatus).filter(([status]) => status !== '200');
  if (unusual.length === 0) return String(total);
  return `${total} (${unusual.map(([status, n]) => `${status}×${n}`).join(' ')})`;
}

function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
