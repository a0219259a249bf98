import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of the sandbox that can swallow answers: a held call is forwarded,
 * the sandbox acts on it and answers, and the proxy keeps that answer instead of passing it
 * on. That is the worst moment for a crash (Esign did the work, the worker never heard), and
 * it lets a test SIGKILL the worker exactly then instead of hoping to hit a window of a few
 * milliseconds.
 */
export interface HoldingProxy {
  url: string;
  /** Hold the answers of the next `count` calls with this method and path. */
  holdNext(method: string, path: string, count?: number): void;
  /** Calls whose answer the proxy received from the sandbox and kept. */
  held(): number;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const upstream = new URL(target);
  const holds = new Map<string, number>();
  const kept = new Set<http.ServerResponse>();
  let heldCount = 0;

  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const key = `${request.method ?? 'GET'} ${path}`;
    const left = holds.get(key) ?? 0;
    const hold = left > 0;
    if (hold) holds.set(key, left - 1);
    const forwarded = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
      },
      (answer) => {
        if (hold) {
          answer.resume();
          answer.on('end', () => {
            heldCount += 1;
            kept.add(response);
            response.on('close', () => kept.delete(response));
          });
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    holdNext(method, path, count = 1) {
      holds.set(`${method} ${path}`, (holds.get(`${method} ${path}`) ?? 0) + count);
    },
    held: () => heldCount,
    async close() {
      for (const response of kept) response.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
