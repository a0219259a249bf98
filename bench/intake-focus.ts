// `npm run bench:intake`: only P2 (issue 11), without the rest of the bench: its own Redis, one
// listener process, and the bench's intake measurement (bench/intake.ts; --quick's rounds, or
// the full run's with --full). `--cpu-prof DIR` writes the CPU profiles of the listener and
// the bare process there (node --cpu-prof), to see where a callback's time goes.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { startCli, exitWithin } from '../demo/child-process.ts';
import { demoServiceEnv } from '../demo/config.ts';
import { loadConfig } from '../src/lib/config.ts';
import { killChildrenOnSignal, track } from './children.ts';
import { measureIntake, type IntakeSide } from './intake.ts';
import { startOwnRedis } from './own-redis.ts';
import { formatSpread, spread } from './stats.ts';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv[at + 1];
};
const full = argv.includes('--full');
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
  ...(process.env.LOG_LEVEL && { LOG_LEVEL: process.env.LOG_LEVEL }),
  ...(profileDir && { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` }),
};
const listener = startCli('listener', env);
track(listener.process);
try {
  const ready = await listener.waitForLog('listener ready', 30_000);
  const { keyPrefix } = loadConfig(env, ['common']).common;
  const stack = { env, keyPrefix, listenerUrl: String(ready.url), callbackSecret, listener };
  const result = await measureIntake(stack, !full, redis.masters);
  const ratio = spread(
    result.listener.perSecond.map((l, i) => l / (result.bare.perSecond[i] ?? l)),
  );
  const line = (name: string, side: IntakeSide): string =>
    `${name}: ${formatSpread(spread(side.perSecond), 0)}/s; per callback CPU ` +
    `${formatSpread(spread(side.cpuMsPerCallback), 3)} ms, Redis CPU ` +
    `${formatSpread(spread(side.redisCpuMsPerCallback), 3)} ms, ` +
    `${formatSpread(spread(side.redisCommandsPerCallback), 1)} commands, ` +
    `${formatSpread(spread(side.redisReadsPerCallback), 2)} socket reads; ` +
    `at ${result.rate}/s p50 ${side.p50.toFixed(2)} ms p99 ${side.p99.toFixed(2)} ms; ` +
    `${side.failures} failed`;
  console.log(line('listener', result.listener));
  console.log(line('bare    ', result.bare));
  console.log(`ratio ${formatSpread(ratio, 2)}`);
} finally {
  listener.process.kill('SIGTERM');
  await exitWithin(listener, 15_000, 'listener').catch(() => listener.kill());
  await redis.stop();
  console.log(`load after: ${load()}`);
}
