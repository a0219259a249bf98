// Baseline P2 (issue 11), run as its own process by the bench: a plain node:http server whose
// handler reads the body and awaits Queue.add of it — no auth, validation or dedupe. What the
// listener's callback intake is measured against. Prints one JSON line with its URL.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { connectRedis } from '../src/app/redis.ts';
import { loadConfig } from '../src/lib/config.ts';

const { redis: topology, keyPrefix } = loadConfig(process.env, ['common']).common;
const connection = connectRedis(topology, { name: 'esign-bench-bare-intake' });
const queue = new Queue('bench-bare-intake', { connection, prefix: keyPrefix });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    queue.add('complete', JSON.parse(Buffer.concat(chunks).toString('utf8')) as object).then(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}'),
      () => res.writeHead(503).end(),
    );
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'bare intake ready', url: `http://127.0.0.1:${port}` }));
});
process.once('SIGTERM', () => {
  server.close();
  void queue.close().finally(() => connection.disconnect());
});
