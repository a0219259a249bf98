import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEsignAgent } from '../src/lib/esign/http.ts';
import { openPathImage } from '../src/lib/images/open-path.ts';
import type { ImagePolicy } from '../src/lib/images/source.ts';
import {
  idleBuffers,
  lend,
  POOLED_CHUNK_BYTES,
  takeBuffer,
  trackWrites,
} from '../src/lib/write-pool.ts';
import { jpegOfSize } from './support/images.ts';

/**
 * File chunks are read into pooled buffers that come back only once the Esign agent's socket
 * has written them (src/lib/write-pool.ts). Reusing a buffer too early would send another
 * chunk's bytes: every upload here is compared byte for byte (SHA-256) on a real HTTP server,
 * many at once, so buffers are reused while other uploads are in flight.
 */
describe('pooled upload chunks', () => {
  let root: string;
  let server: Server;
  let url: string;
  const received = new Map<string, string>();
  const files = new Map<string, string>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'write-pool-'));
    // Sizes around the chunk size, so last chunks are partial.
    for (const [index, size] of [
      3 * 1024 * 1024 + 17,
      1024 * 1024,
      POOLED_CHUNK_BYTES * 5 + 1,
    ].entries()) {
      const bytes = jpegOfSize(index + 1, size);
      await writeFile(join(root, `${index}.jpg`), bytes);
      files.set(`${index}.jpg`, createHash('sha256').update(bytes).digest('hex'));
    }
    server = createServer((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => {
        received.set(req.url ?? '', hash.digest('hex'));
        // A slow reader now and then, so writes queue up behind the socket.
        setTimeout(() => res.end(), 5);
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  async function upload(agent: Agent, name: string, id: string): Promise<void> {
    const policy: ImagePolicy = {
      root,
      allowedHosts: [],
      maxBytes: 10 * 1024 * 1024,
      fetchTimeoutMs: 5_000,
    };
    const image = await openPathImage('KTP', name, policy);
    const response = await request(`${url}/${id}`, {
      dispatcher: agent,
      method: 'PUT',
      headers: { 'content-length': String(image.contentLength) },
      body: image.stream,
    });
    await response.body.dump();
    expect(response.statusCode).toBe(200);
  }

  it('sends every byte as read while buffers are reused across concurrent uploads', async () => {
    const agent = createEsignAgent({ connectTimeoutMs: 5_000, requestTimeoutMs: 30_000 });
    try {
      const names = [...files.keys()];
      const jobs = Array.from({ length: 24 }, (_, i) => ({ id: `u${i}`, name: names[i % 3]! }));
      for (let round = 0; round < 2; round += 1)
        await Promise.all(jobs.map((job) => upload(agent, job.name, `${job.id}-${round}`)));
      for (const job of jobs)
        for (let round = 0; round < 2; round += 1)
          expect(received.get(`/${job.id}-${round}`), `${job.id}-${round}`).toBe(
            files.get(job.name),
          );
      // Written chunks came back to the pool (at most its idle cap is kept).
      expect(idleBuffers()).toBeGreaterThan(0);
    } finally {
      await agent.close();
    }
  });

  it('takes a chunk back only once its write completed, never while the socket still queues it', async () => {
    // A peer that reads nothing for a while: the kernel's buffers fill and writes queue.
    const hash = createHash('sha256');
    const peer = createNetServer((socket) => {
      socket.pause();
      setTimeout(() => socket.resume(), 200);
      socket.on('data', (chunk: Buffer) => hash.update(chunk));
      socket.on('end', () => socket.end());
    });
    peer.listen(0, '127.0.0.1');
    await once(peer, 'listening');
    const socket = connect((peer.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    trackWrites(socket);
    const expected = createHash('sha256');
    // 25 MiB, more than loopback's buffers hold: most writes wait; every new chunk is read
    // into a buffer from the pool, so one given back too early would be overwritten here.
    for (let index = 0; index < 400; index += 1) {
      const buffer = takeBuffer();
      buffer.fill(index % 251);
      const chunk = buffer.subarray(0, POOLED_CHUNK_BYTES - (index % 7));
      expected.update(chunk);
      lend(chunk, buffer);
      socket.write(chunk);
    }
    socket.end();
    await once(socket, 'close');
    peer.close();
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  it('leaves chunks written by another agent to the garbage collector, and sends them whole', async () => {
    const agent = new Agent();
    try {
      const before = idleBuffers();
      await upload(agent, '0.jpg', 'plain');
      expect(received.get('/plain')).toBe(files.get('0.jpg'));
      // Only the end-of-file read's buffer came back; no written chunk did.
      expect(idleBuffers()).toBeLessThanOrEqual(before + 1);
    } finally {
      await agent.close();
    }
  });
});
