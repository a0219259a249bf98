// What the re-drive sweep costs Redis with W worker processes on one partition (issue 11):
// every worker sweeping (as before the lease: a lease that always says yes) against the lease
// (one sweeper per partition and interval). N registrations wait in Redis with their first job
// (none runs), all older than REDRIVE_AFTER_MS, so each sweep checks every one; the figure is
// Redis commands (INFO's total_commands_processed, a script's inner commands included) per
// registration per interval, what a registration pays per minute it waits for Esign. Counts,
// not timings: they do not depend on the box's load. `node bench/redrive-cost.ts [N=100] [W=4]`.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createProducerApp } from '../src/app/producer-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { createQueues } from '../src/queues/queues.ts';
import { startRedriver } from '../src/queues/redrive.ts';
import {
  createRedriveLease,
  redriveLeaseMs,
  type RedriveLease,
} from '../src/queues/redrive-lease.ts';
import { startTemporaryRedis } from '../demo/redis-discovery.ts';
import { person, registrationRequest } from '../test/support/requests.ts';

const count = Number(process.argv[2] ?? 100);
const workers = Number(process.argv[3] ?? 4);
const intervalMs = 300;
const intervals = 10;

const server = await startTemporaryRedis('redis-server', 5_000, 700);
if (!server) throw new Error('bench/redrive-cost.ts needs redis-server on PATH');
const prefix = 'redrive-cost';
const config = loadConfig(
  {
    REDIS_URL: server.url,
    QUEUE_PREFIX: prefix,
    ESIGN_PARTNER_USER_ID_TYPE: 'T',
    PII_ENCRYPTION_KEY: 'a'.repeat(64),
  },
  ['common', 'pipeline', 'producer', 'pii'],
);
const producer = createProducerApp(config, { name: 'redrive-cost' });
for (let i = 0; i < count; i += 1)
  await producer.enqueueRegistration(registrationRequest(person('completed')));
await producer.close();

const redis = new Redis(server.url, { maxRetriesPerRequest: null });
const store = new RegistrationStore({ redis, prefix, retentionMs: 60_000 });
const queues = createQueues(redis, prefix, { attempts: 1, backoffMs: 100 });
const processed = async () =>
  Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);
const always: RedriveLease = {
  claim: () => Promise.resolve(true),
  release: () => Promise.resolve(),
};

const perInterval: number[] = [];
for (const withLease of [false, true]) {
  let sweeps = 0;
  const before = await processed();
  const redrivers = Array.from({ length: workers }, () =>
    startRedriver({
      store,
      queues: queues.steps,
      afterMs: 1,
      // Every registration is "unchanged for long enough": each sweep checks them all.
      now: () => Date.now() + 60_000,
      logger: silentLogger(),
      intervalMs,
      lease: withLease ? createRedriveLease(redis, prefix, redriveLeaseMs(intervalMs)) : always,
      onSweep: () => {
        sweeps += 1;
      },
    }),
  );
  await sleep(intervalMs * intervals + intervalMs / 2);
  await Promise.all(redrivers.map((redriver) => redriver.stop()));
  const commands = (await processed()) - before;
  // Rounds: at start and after each interval; with the lease one sweep each, without W.
  const rounds = withLease ? sweeps : sweeps / workers;
  perInterval.push(commands / count / rounds);
  console.log(
    `${withLease ? 'lease' : 'every worker sweeps'}: ${workers} workers, ${count} waiting,` +
      ` ${sweeps} sweeps in ${rounds} rounds, ${commands} commands:` +
      ` ${(commands / count / rounds).toFixed(1)} per registration per interval`,
  );
}
console.log(`ratio (every worker / lease): ${(perInterval[0]! / perInterval[1]!).toFixed(2)}`);
await queues.close();
redis.disconnect();
await server.stop();
