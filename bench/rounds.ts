import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createUsers, type DemoUser } from '../demo/users.ts';
import { runBaseline, type BaselineClient, type BaselineListener } from './baseline.ts';
import type { RequestCounter } from './monitor.ts';
import type { OwnRedis } from './own-redis.ts';
import { cpuMsOf } from './proc.ts';
import { sampleRedis, subtractSamples, type RedisSample } from './redis-info.ts';
import type { PipelineStack } from './stack.ts';

/**
 * One timed round of each kind. A round's users (and their image files) are made before the
 * clock starts; the pipeline's clock runs from the first enqueue to the last result published,
 * the baseline's from the first call to the last terminal callback. CPU and Redis figures are
 * deltas over exactly that window, divided by the registrations in it.
 */

export interface PipelineRound {
  perSecond: number;
  /** CPU ms per registration. */
  workerCpu: number;
  listenerCpu: number;
  redisCpu: number;
  /** Redis commands executed per registration (scripts' inner commands included). */
  commands: number;
  /** Socket reads per registration (INFO): a lower bound on round trips. */
  roundTrips: number;
  /** Requests per registration counted with MONITOR (an upper bound); NaN unless counted. */
  requests: number;
  /** used_memory growth per finished registration, bytes. */
  bytes: number;
}

export interface BaselineRound {
  perSecond: number;
  /** CPU ms per registration of the bench process (the baseline and its listener). */
  cpu: number;
}

export function makeUsers(stack: PipelineStack, count: number): Promise<DemoUser[]> {
  return createUsers(Array<'completed'>(count).fill('completed'), stack.imageRoot);
}

const sumCpu = async (pids: number[]): Promise<number> =>
  (await Promise.all(pids.map(cpuMsOf))).reduce((a, b) => a + b, 0);

export async function pipelineRound(
  stack: PipelineStack,
  redis: OwnRedis,
  users: DemoUser[],
  counter?: RequestCounter,
): Promise<PipelineRound> {
  const n = users.length;
  const seenBeforePolls = counter?.requests ?? 0;
  const poll = await pollCost(stack, redis);
  const requestsPerPoll = ((counter?.requests ?? 0) - seenBeforePolls) / 10;
  const seenBefore = counter?.requests ?? 0;
  const workerPids = stack.workers.map((worker) => worker.pid);
  const published = await stack.results.getWaitingCount();
  const redisBefore = await sampleRedis(redis.masters);
  const workerBefore = await sumCpu(workerPids);
  const listenerBefore = await cpuMsOf(stack.listener.pid);
  const started = performance.now();

  // The enqueuing service: a few requests in flight, as a busy producer would have.
  const pending = [...users];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let user = pending.shift(); user; user = pending.shift())
        await stack.producer.enqueueRegistration(user.request);
    }),
  );
  const deadline = Date.now() + 120_000;
  let polls = 1;
  while ((await stack.results.getWaitingCount()) < published + n) {
    if (Date.now() > deadline) throw new Error('pipeline round: results missing after 120 s');
    await sleep(20);
    polls += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  const measured = subtractSamples(await sampleRedis(redis.masters), redisBefore);
  // The bench's own looks at the results count are not the pipeline's work.
  const redisDelta = subtractSamples(measured, {
    cpuMs: poll.cpuMs * polls,
    calls: poll.calls * polls,
    reads: poll.reads * polls,
    usedMemory: 0,
  });
  const requests = counter ? counter.requests - seenBefore - polls * requestsPerPoll : Number.NaN;
  const workerCpu = (await sumCpu(workerPids)) - workerBefore;
  const listenerCpu = (await cpuMsOf(stack.listener.pid)) - listenerBefore;

  await expectAllValid(stack, users);
  return {
    perSecond: n / seconds,
    workerCpu: workerCpu / n,
    listenerCpu: listenerCpu / n,
    redisCpu: redisDelta.cpuMs / n,
    commands: redisDelta.calls / n,
    roundTrips: redisDelta.reads / n,
    requests: requests / n,
    bytes: redisDelta.usedMemory / n,
  };
}

/** What one look at the results count costs Redis (the INFO between the samples left out). */
async function pollCost(stack: PipelineStack, redis: OwnRedis): Promise<RedisSample> {
  const looks = 10;
  const before = await sampleRedis(redis.masters);
  for (let i = 0; i < looks; i += 1) await stack.results.getWaitingCount();
  const delta = subtractSamples(await sampleRedis(redis.masters), before);
  const infos = redis.masters.length;
  return {
    cpuMs: delta.cpuMs / looks,
    calls: (delta.calls - infos) / looks,
    reads: (delta.reads - infos) / looks,
    usedMemory: 0,
  };
}

/** A round only counts if every registration ended as its scenario says: COMPLETED, VALID. */
export async function expectAllValid(stack: PipelineStack, users: DemoUser[]): Promise<void> {
  const ids = new Set(users.map((user) => user.request.registrationId));
  const jobs = await stack.results.getJobs(['wait'], 0, -1);
  const ours = jobs.filter((job) => ids.has(job.data.registrationId));
  const valid = ours.filter(
    (job) => job.data.status === 'COMPLETED' && job.data.result === 'VALID',
  );
  if (valid.length !== ids.size)
    throw new Error(`pipeline round: ${valid.length}/${ids.size} registrations ended VALID`);
}

export async function baselineRound(
  client: BaselineClient,
  listener: BaselineListener,
  stack: PipelineStack,
  users: DemoUser[],
  concurrency: number,
): Promise<BaselineRound> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await runBaseline({
    esign: client.esign,
    listener,
    users,
    imageRoot: stack.imageRoot,
    concurrency,
    userIdType: stack.env.ESIGN_PARTNER_USER_ID_TYPE as string,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond: users.length / seconds, cpu: (cpu.user + cpu.system) / 1000 / users.length };
}
