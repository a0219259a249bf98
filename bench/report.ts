import type { IntakeResult } from './intake.ts';
import type { RssResult } from './rss.ts';
import type { SettingResult } from './setting.ts';
import { formatSpread, spread, type Spread } from './stats.ts';

/**
 * The printed result: per setting, median [min–max] over the measured rounds (ratios are
 * taken pair by pair, each pipeline round against the baseline round beside it), then one
 * line per target of issue 11: value, target, met or not.
 */

const MiB = 1024 * 1024;

interface Target {
  name: string;
  value: number;
  shown: string;
  target: string;
  met: (value: number) => boolean;
}

const pairwise = (a: number[], b: number[]): number[] =>
  a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / (b[i] as number));

function settingFigures(s: SettingResult) {
  const p = s.pipeline;
  const totalCpu = p.map((r) => r.workerCpu + r.listenerCpu + r.redisCpu);
  return {
    label: `${s.setting.latencyMs} ms, C=${s.setting.concurrency}`,
    pipeline: spread(p.map((r) => r.perSecond)),
    baseline: spread(s.baseline.map((r) => r.perSecond)),
    ratio: spread(
      pairwise(
        p.map((r) => r.perSecond),
        s.baseline.map((r) => r.perSecond),
      ),
    ),
    worker: spread(p.map((r) => r.workerCpu)),
    listener: spread(p.map((r) => r.listenerCpu)),
    redis: spread(p.map((r) => r.redisCpu)),
    totalCpu: spread(totalCpu),
    baselineCpu: spread(s.baseline.map((r) => r.cpu)),
    cpuRatio: spread(
      pairwise(
        totalCpu,
        s.baseline.map((r) => r.cpu),
      ),
    ),
    commands: spread(p.map((r) => r.commands)),
    roundTrips: spread(p.map((r) => r.roundTrips)),
    bytes: spread(p.map((r) => r.bytes)),
    requests: s.requestsPerRegistration,
    kept: s.keptBytesPerRegistration,
    keptByKind: [...s.keptByKind]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, bytes]) => `${kind} ${bytes.toFixed(0)}`)
      .join(', '),
  };
}

type Figures = ReturnType<typeof settingFigures>;

/** The worst of the settings' medians, against a target: `worst` picks it. */
function across(
  figures: Figures[],
  pick: (f: Figures) => Spread | number,
  worst: 'min' | 'max',
  digits: number,
): { value: number; shown: string } {
  const medians = figures.map((f) => {
    const v = pick(f);
    return typeof v === 'number' ? v : v.median;
  });
  const value = worst === 'min' ? Math.min(...medians) : Math.max(...medians);
  const shown = figures.map((f, i) => `${(medians[i] as number).toFixed(digits)} (${f.label})`);
  return { value, shown: shown.join(' / ') };
}

export function printReport(
  log: (line: string) => void,
  settings: SettingResult[],
  intake: IntakeResult | undefined,
  rss: RssResult | undefined,
): void {
  const figures = settings.map(settingFigures);
  for (const f of figures) {
    log('');
    log(`setting ${f.label}: median [min–max]`);
    log(
      `  registrations/s    pipeline ${formatSpread(f.pipeline)}   baseline ${formatSpread(f.baseline)}   ratio ${formatSpread(f.ratio, 2)}`,
    );
    log(
      `  CPU ms/registration  worker ${formatSpread(f.worker, 2)}   listener ${formatSpread(f.listener, 2)}   Redis ${formatSpread(f.redis, 2)}`,
    );
    log(
      `                       pipeline total ${formatSpread(f.totalCpu, 2)}   baseline ${formatSpread(f.baselineCpu, 2)}   ratio ${formatSpread(f.cpuRatio, 2)}`,
    );
    log(
      `  Redis/registration   commands ${formatSpread(f.commands)}   round trips: requests ${f.requests.toFixed(1)} (MONITOR, warm-up round; upper bound), socket reads ${formatSpread(f.roundTrips)} (lower bound)`,
    );
    log(
      `  Redis bytes/registration  used_memory growth ${formatSpread(f.bytes, 0)}   kept for the retention (MEMORY USAGE growth after warm-up, results consumed) ${f.kept.toFixed(0)}`,
    );
    log(`    growth after warm-up, by kind of key (per registration): ${f.keptByKind}`);
  }
  const intakeRatio = intake
    ? spread(pairwise(intake.listener.perSecond, intake.bare.perSecond))
    : undefined;
  if (intake && intakeRatio) {
    log('');
    log(
      `callback intake: listener ${formatSpread(spread(intake.listener.perSecond), 0)}/s   bare Queue.add ${formatSpread(spread(intake.bare.perSecond), 0)}/s   ratio ${formatSpread(intakeRatio, 2)}`,
    );
    log(
      `  per accepted callback: listener CPU ${formatSpread(spread(intake.listener.cpuMsPerCallback), 3)} ms, Redis CPU ${formatSpread(spread(intake.listener.redisCpuMsPerCallback), 3)} ms, ${formatSpread(spread(intake.listener.redisCommandsPerCallback), 1)} commands, ${formatSpread(spread(intake.listener.redisReadsPerCallback), 2)} socket reads`,
    );
    log(
      `                         bare:     CPU ${formatSpread(spread(intake.bare.cpuMsPerCallback), 3)} ms, Redis CPU ${formatSpread(spread(intake.bare.redisCpuMsPerCallback), 3)} ms, ${formatSpread(spread(intake.bare.redisCommandsPerCallback), 1)} commands, ${formatSpread(spread(intake.bare.redisReadsPerCallback), 2)} socket reads`,
    );
    log(
      `  at ${intake.rate}/s: listener p50 ${intake.listener.p50.toFixed(2)} ms p99 ${intake.listener.p99.toFixed(2)} ms   bare p50 ${intake.bare.p50.toFixed(2)} ms p99 ${intake.bare.p99.toFixed(2)} ms   failed requests: listener ${intake.listener.failures}, bare ${intake.bare.failures}`,
    );
  }
  if (rss) {
    log(
      `worker RSS, 20 × 2 × 10 MiB by path: ${(rss.before / MiB).toFixed(1)} MiB before, peak ${(rss.peak / MiB).toFixed(1)} MiB, growth +${(rss.growth / MiB).toFixed(1)} MiB`,
    );
  }

  const targets: Target[] = [];
  const add = (
    name: string,
    v: { value: number; shown: string },
    target: string,
    met: (x: number) => boolean,
  ) => targets.push({ name, ...v, target, met });
  add(
    'P1 throughput, pipeline ÷ baseline',
    across(figures, (f) => f.ratio, 'min', 2),
    '≥ 0.8',
    (x) => x >= 0.8,
  );
  add(
    'P1 CPU per registration, pipeline ÷ baseline',
    across(figures, (f) => f.cpuRatio, 'max', 2),
    '≤ 1.5×',
    (x) => x <= 1.5,
  );
  add(
    'Redis commands per registration',
    across(figures, (f) => f.commands, 'max', 0),
    '≤ 150',
    (x) => x <= 150,
  );
  add(
    'Redis round trips per registration, requests counted with MONITOR (upper bound)',
    across(figures, (f) => f.requests, 'max', 1),
    '≤ 20',
    (x) => x <= 20,
  );
  add(
    'Redis bytes per finished registration (kept for the retention)',
    across(figures, (f) => f.kept, 'max', 0),
    '≤ 2048',
    (x) => x <= 2048,
  );
  if (intake && intakeRatio)
    add(
      'P2 callback intake, listener ÷ bare Queue.add',
      { value: intakeRatio.median, shown: intakeRatio.median.toFixed(2) },
      '≥ 0.8',
      (x) => x >= 0.8,
    );
  if (intake)
    add(
      `P2 p99 of an accepted callback at ${intake.rate}/s (ms)`,
      { value: intake.listener.p99, shown: intake.listener.p99.toFixed(2) },
      '≤ 3',
      (x) => x <= 3,
    );
  if (rss)
    add(
      'P3 worker RSS growth, 20 × 2 × 10 MiB (MiB)',
      { value: rss.growth / MiB, shown: `+${(rss.growth / MiB).toFixed(1)}` },
      '≤ +32',
      (x) => x <= 32,
    );
  const ceiling = across(figures, (f) => 1000 / f.redis.median, 'min', 0);
  add('P4 one Redis core ceiling (registrations/s)', ceiling, '≥ 1500', (x) => x >= 1500);

  log('');
  log('targets (issue 11):');
  for (const t of targets)
    log(`  ${t.met(t.value) ? 'MET    ' : 'NOT MET'}  ${t.name}: ${t.shown}  (target ${t.target})`);
}
