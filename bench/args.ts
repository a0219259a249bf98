/**
 * `npm run bench -- [options]`: what to run. Parsing is pure so a test can check it; a bad
 * option is an error naming every problem.
 */

export interface Setting {
  /** The sandbox's fixed latency per call, ms. */
  latencyMs: number;
  /** Per-step concurrency of the pipeline's workers, and per stage of the baseline. */
  concurrency: number;
}

export interface BenchOptions {
  help: boolean;
  quick: boolean;
  cluster: boolean;
  /** Worker processes. */
  workers: number;
  /** QUEUE_PARTITIONS of the service (on --cluster, spread over the masters). */
  partitions: number;
  /** Registrations per round. */
  count: number;
  /** Measured rounds of each kind per setting (after one warm-up of each). */
  rounds: number;
  settings: Setting[];
}

export const usage = `Usage: npm run bench -- [--quick] [--cluster] [--partitions N] [--workers N] [--count N] [--rounds N]

Starts its own redis-server (or, with --cluster, a local 3-master Redis Cluster), the Esign
sandbox, the callback listener and N worker processes, then measures the pipeline against an
in-process baseline (the same Esign client, no queues) in interleaved rounds, the callback
intake against a bare Queue.add handler, and the worker's memory for large uploads. Prints
median [min-max] per setting and one line per target of issue 11. See docs/performance.md.

  --quick      one setting (20 ms, C=8), fewer and smaller rounds: under 2 minutes
  --cluster    run on a local Redis Cluster (3 masters, 3 replicas)
  --partitions N  QUEUE_PARTITIONS (default 1; with --cluster, 3 spreads over the masters)
  --workers N  worker processes (default 1)
  --count N    registrations per round (default 200; --quick 80)
  --rounds N   measured rounds of each kind per setting (default 5; --quick 3)
  --help       this text`;

const fullSettings: Setting[] = [
  { latencyMs: 20, concurrency: 8 },
  { latencyMs: 20, concurrency: 32 },
  { latencyMs: 0, concurrency: 8 },
];

export function parseArgs(argv: readonly string[]): BenchOptions {
  const problems: string[] = [];
  const flags = new Set<string>();
  const numbers = new Map<string, number>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h' || arg === '--quick' || arg === '--cluster') {
      flags.add(arg === '-h' ? '--help' : arg);
    } else if (['--workers', '--count', '--rounds', '--partitions'].includes(arg)) {
      const value = Number(argv[i + 1]);
      i += 1;
      if (!Number.isInteger(value) || value < 1)
        problems.push(`${arg}: must be a whole number of at least 1`);
      else numbers.set(arg, value);
    } else {
      problems.push(`${arg}: unknown option`);
    }
  }
  if (problems.length > 0) throw new Error(`bad options:\n  ${problems.join('\n  ')}`);
  const quick = flags.has('--quick');
  return {
    help: flags.has('--help'),
    quick,
    cluster: flags.has('--cluster'),
    workers: numbers.get('--workers') ?? 1,
    partitions: numbers.get('--partitions') ?? 1,
    count: numbers.get('--count') ?? (quick ? 80 : 200),
    rounds: numbers.get('--rounds') ?? (quick ? 3 : 5),
    settings: quick ? [fullSettings[0] as Setting] : fullSettings,
  };
}
