// `npm run bench:intake`: only P2 (issue 11), quicker than the whole bench: its own Redis, one
// listener process, and the bench's intake measurement (bench/intake.ts) repeated --rounds
// times. `--cpu-prof DIR` writes the listener's CPU profile there (node --cpu-prof).
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { startCli, exitWithin } from '../demo/child-process.ts';
import { demoServiceEnv } from '../demo/config.ts';
import { loadConfig } from '../src/lib/config.ts';
import { killChildrenOnSignal, track } from './children.ts';
import { measureIntake, type IntakeSide } from './intake.ts';
import { startOwnRedis } from './own-redis.ts';
import { spread } from './stats.ts';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv[at + 1];
};
const rounds = Number(option('--rounds') ?? 3);
const profileDir = option('--cpu-prof');

killChildrenOnSignal();
const load = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim();
console.log(`load before: ${load()}`);
const redis = await startOwnRedis(false);
const callbackSecret = randomUUID();
const env: Record<string, string> = {
  ...redis.env,
  ...demoServiceEnv,
  QUEUE_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
  CALLBACK_AUTH: 'bearer',
  CALLBACK_AUTH_SECRET: callbackSecret,
  PII_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  SHUTDOWN_TIMEOUT_MS: '5000',
  METRICS_PORT: '0',
  CALLBACK_PORT: '0',
  CALLBACK_HOST: '127.0.0.1',
  ...(profileDir && { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` }),
};
const listener = startCli('listener', env);
track(listener.process);
try {
  const ready = await listener.waitForLog('listener ready', 30_000);
  const { keyPrefix } = loadConfig(env, ['common']).common;
  const stack = { env, keyPrefix, listenerUrl: String(ready.url), callbackSecret, listener };
  const f = (side: IntakeSide): string =>
    [
      side.redisCpuMsPerCallback[0] ?? 0,
      side.redisCommandsPerCallback[0] ?? 0,
      side.redisReadsPerCallback[0] ?? 0,
    ]
      .map((x) => x.toFixed(3))
      .join('/');
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const result = await measureIntake(stack, true, redis.masters);
    const [l = 0] = result.listener.perSecond;
    const [b = 0] = result.bare.perSecond;
    const [lc = 0] = result.listener.cpuMsPerCallback;
    const [bc = 0] = result.bare.cpuMsPerCallback;
    cpuRatios.push(lc / bc);
    ratios.push(l / b);
    console.log(
      `round ${round + 1}: listener ${l.toFixed(0)}/s bare ${b.toFixed(0)}/s ratio ${(l / b).toFixed(2)}; ` +
        `CPU ms/callback listener ${lc.toFixed(3)} bare ${bc.toFixed(3)}; ` +
        `Redis ms/cmds/reads per callback listener ${f(result.listener)} bare ${f(result.bare)}; ` +
        `at ${result.rate}/s listener p50 ${result.listener.p50.toFixed(2)} p99 ${result.listener.p99.toFixed(2)} ms, ` +
        `bare p50 ${result.bare.p50.toFixed(2)} p99 ${result.bare.p99.toFixed(2)} ms; ` +
        `failures ${result.listener.failures}/${result.bare.failures}`,
    );
  }
  console.log(
    `median ratio ${spread(ratios).median.toFixed(2)}; CPU per callback, listener ÷ bare ${spread(cpuRatios).median.toFixed(2)}`,
  );
} finally {
  listener.process.kill('SIGTERM');
  await exitWithin(listener, 15_000, 'listener').catch(() => listener.kill());
  await redis.stop();
  console.log(`load after: ${load()}`);
}
