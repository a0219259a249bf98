import { percentile as nearestRank } from '../demo/summary.ts';

/**
 * The bench's arithmetic: a 2-core box shared with other work is noisy, so every figure is
 * reported as the median of interleaved rounds with the range beside it, never one run.
 */

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), min and max; NaN for no values. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/** `12.3 [11.0–14.2]` with `digits` decimals; `n/a` when nothing was measured. */
export function formatSpread(s: Spread, digits = 1): string {
  if (Number.isNaN(s.median)) return 'n/a';
  const f = (x: number) => x.toFixed(digits);
  return `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
}

/** The nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  return nearestRank(values, p) ?? Number.NaN;
}
