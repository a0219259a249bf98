// What one registration costs Redis, split by whose keys a command touches: the record
// store's (record, indexes, slot, images, pause ledger, partition directory) or BullMQ's.
// Runs the local stack (in-process workers) on its own redis-server, warms up, then watches
// N registrations to their result with MONITOR and prints, per registration:
//   - commands: every command Redis ran, a script's inner commands included (as INFO
//     commandstats counts them), by owner and by command name;
//   - requests: what clients sent (a script call or a MULTI…EXEC once, its insides not).
// MONITOR shows a script's commands with the source `lua`, after the call that ran them; a
// command's owner is the kind of key its first key argument names. Counts, not timings: the
// figures do not depend on the box's load. `node bench/store-cost.ts [N=20]`.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { demoServiceEnv } from '../demo/config.ts';
import { startLocalStack } from '../demo/local-stack.ts';
import { startTemporaryRedis } from '../demo/redis-discovery.ts';
import { createUsers } from '../demo/users.ts';
import { parseMonitorArgs, storeKeyKind } from './store-cost-parse.ts';

const count = Number(process.argv[2] ?? 20);
const warmup = 5;

const server = await startTemporaryRedis('redis-server', 5_000, 700);
if (!server) throw new Error('bench/store-cost.ts needs redis-server on PATH');
const prefix = `cost-${randomUUID().slice(0, 8)}`;
const stack = await startLocalStack({ redisUrl: server.url, prefix, env: { ...demoServiceEnv } });

async function run(n: number): Promise<void> {
  const users = await createUsers(Array<'completed'>(n).fill('completed'), stack.imageRoot);
  const ids: string[] = [];
  for (const user of users)
    ids.push((await stack.producer.enqueueRegistration(user.request)).registrationId);
  const results = await Promise.all(ids.map((id) => stack.waitForResult(id, 120_000)));
  if (results.some((result) => result.status !== 'COMPLETED'))
    throw new Error('a registration did not complete');
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // the last settles land
}

interface Tally {
  commands: number;
  requests: number;
  byName: Map<string, number>;
}
const tallies = new Map<string, Tally>();
function tally(owner: string, name: string, request: boolean, command: boolean): void {
  const entry = tallies.get(owner) ?? { commands: 0, requests: 0, byName: new Map() };
  tallies.set(owner, entry);
  if (request) entry.requests += 1;
  if (command) {
    entry.commands += 1;
    entry.byName.set(name, (entry.byName.get(name) ?? 0) + 1);
  }
}

/** The owner of a command: the kind of its first key (scripts: KEYS[1]). */
function ownerOf(args: string[]): string {
  const name = (args[0] ?? '').toLowerCase();
  const scripted = name === 'eval' || name === 'evalsha' || name === 'fcall';
  const key = scripted ? (Number(args[2]) > 0 ? args[3] : undefined) : args[1];
  if (key === undefined) return 'other';
  return storeKeyKind(key, prefix) ?? (key.startsWith(`${prefix}:`) ? 'bullmq' : 'other');
}

function watch(port: number) {
  const socket = connect(port, '127.0.0.1');
  const inMulti = new Map<string, string>();
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('connect', () => socket.write('MONITOR\r\n'));
  socket.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\r\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = parseMonitorArgs(line);
      if (!parsed) continue;
      const [source, args] = parsed;
      const name = (args[0] ?? '').toLowerCase();
      if (name === 'monitor' || name === 'info') continue;
      if (source === 'lua') {
        tally(ownerOf(args), `lua ${name}`, false, true);
        continue;
      }
      const multiOwner = inMulti.get(source);
      if (multiOwner !== undefined) {
        tally(multiOwner, name, false, true);
        if (name === 'exec' || name === 'discard') inMulti.delete(source);
        continue;
      }
      if (name === 'multi') {
        inMulti.set(source, 'bullmq'); // BullMQ is the only MULTI user
        tally('bullmq', name, true, true);
        continue;
      }
      tally(ownerOf(args), name, true, true);
    }
  });
  return socket;
}

try {
  await run(warmup);
  const socket = watch(Number(new URL(server.url).port));
  await new Promise((resolve) => setTimeout(resolve, 200));
  await run(count);
  socket.destroy();
  let totalCommands = 0;
  let totalRequests = 0;
  console.log(`per registration, over ${count} (after ${warmup} warm-up):`);
  for (const [owner, entry] of [...tallies].sort((a, b) => b[1].commands - a[1].commands)) {
    totalCommands += entry.commands;
    totalRequests += entry.requests;
    const per = (value: number) => (value / count).toFixed(1);
    console.log(
      `${owner.padEnd(20)} commands ${per(entry.commands)}, requests ${per(entry.requests)}`,
    );
    const names = [...entry.byName].sort((a, b) => b[1] - a[1]);
    console.log(`  ${names.map(([name, n]) => `${name} ${per(n)}`).join(', ')}`);
  }
  const per = (value: number) => (value / count).toFixed(1);
  console.log(
    `total                commands ${per(totalCommands)}, requests ${per(totalRequests)}`,
  );
} finally {
  await stack.close();
  await server.stop();
}
