// `npm run bench`: the pipeline measured against what the same work costs without queues,
// every component in its own process on the bench's own Redis. See docs/performance.md.
import { execFileSync } from 'node:child_process';
import { parseArgs, usage } from './args.ts';
import { killChildrenOnSignal } from './children.ts';
import { startBaselineListener } from './baseline.ts';
import { measureIntake, type IntakeResult } from './intake.ts';
import { startOwnRedis } from './own-redis.ts';
import { printReport } from './report.ts';
import { measureRss, type RssResult } from './rss.ts';
import { runSetting, type SettingResult } from './setting.ts';

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  console.error(usage);
  process.exit(2);
}
if (options.help) {
  console.log(usage);
  process.exit(0);
}

killChildrenOnSignal();
const log = (line: string) => console.log(line);
const load = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim();
const startedAt = Date.now();
log(`esign-worker bench${options.quick ? ' --quick' : ''}${options.cluster ? ' --cluster' : ''}`);
log(`load before: ${load()}`);

const redis = await startOwnRedis(options.cluster);
const listener = await startBaselineListener();
const settings: SettingResult[] = [];
let intake: IntakeResult | undefined;
let rss: RssResult | undefined;
try {
  log(
    `redis: ${redis.describe}; ${options.workers} worker process(es); QUEUE_PARTITIONS=${options.partitions}; ${options.count} registrations a round`,
  );
  for (const [index, setting] of options.settings.entries()) {
    log(`setting: ${setting.latencyMs} ms latency, concurrency ${setting.concurrency}`);
    const last = index === options.settings.length - 1;
    settings.push(
      await runSetting(options, setting, redis, listener, log, async (stack) => {
        if (!last) return;
        // Before the intake: its callbacks leave thousands of `complete` jobs that the fresh
        // worker measured here would otherwise work through while the uploads run.
        log('worker RSS: 20 concurrent registrations × 2 × 10 MiB images by path');
        rss = await measureRss(stack);
        if (options.partitions === 1) {
          log('callback intake: listener vs bare Queue.add');
          intake = await measureIntake(stack, options.quick, redis.masters);
        } else {
          // Its submissions are indexed under the base prefix, not through the directory.
          log('callback intake: not measured with --partitions above 1');
        }
      }),
    );
  }
} finally {
  await listener.close();
  await redis.stop();
}
log(`load after: ${load()}`);
log(`took ${Math.round((Date.now() - startedAt) / 1000)} s`);
printReport(log, settings, intake, rss);
