import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.ts';
import { sendJson } from './respond.ts';

/**
 * A node:http server with the lifecycle main.ts needs: listen on a port (0 in tests) and a
 * graceful, bounded close. Shared by the callback listener and the metrics server.
 */
export interface HttpApp {
  server: http.Server;
  listen(port: number, host?: string): Promise<{ url: string; port: number }>;
  /** stop accepting, finish in-flight requests (bounded), close */
  close(): Promise<void>;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export interface HttpAppOptions {
  logger: Logger;
  /** Slow senders must finish their headers within this (slowloris). Default 10 s. */
  headersTimeoutMs?: number | undefined;
  /** …and the whole request within this. Default 15 s. */
  requestTimeoutMs?: number | undefined;
  /** How long close() lets in-flight requests run before cutting them. Default 10 s. */
  closeTimeoutMs?: number | undefined;
  /** An idle keep-alive socket is closed after this. Default 5 s. */
  keepAliveTimeoutMs?: number | undefined;
  /** A socket is closed after this many requests (0 = no limit). Default 100. */
  maxRequestsPerSocket?: number | undefined;
  /** Connections beyond this are refused at accept. Default 1,000. */
  maxConnections?: number | undefined;
}

/**
 * How often Node checks headersTimeout/requestTimeout. Its default, 30 s, lets a slow-drip
 * client hold a socket ~30 s past the timeout; every 250 ms enforces them to the quarter second.
 */
const connectionsCheckingIntervalMs = 250;

export function createHttpApp(handler: RequestHandler, options: HttpAppOptions): HttpApp {
  const { logger } = options;
  let closing: Promise<void> | undefined;
  const inFlight = new Set<http.ServerResponse>();

  const server = http.createServer(
    {
      // Given at construction: Node's connection checker reads these then, not later.
      connectionsCheckingInterval: connectionsCheckingIntervalMs,
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 15_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    },
    (req, res) => {
      // While closing, answer what is already on the wire but tell keep-alive clients to
      // reconnect elsewhere; once a response is out its socket is idle and can be closed.
      inFlight.add(res);
      if (closing) res.setHeader('Connection', 'close');
      res.on('close', () => {
        inFlight.delete(res);
        if (closing) setImmediate(() => server.closeIdleConnections());
      });
      handler(req, res).catch((error: unknown) => {
        logger.error({ err: error }, 'request handler failed');
        if (!res.headersSent) sendJson(res, 500, { ok: false, error: 'internal' });
        else res.destroy();
      });
    },
  );
  server.maxRequestsPerSocket = options.maxRequestsPerSocket ?? 100;
  server.maxConnections = options.maxConnections ?? 1_000;

  async function listen(port: number, host?: string): Promise<{ url: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return { url: `http://${urlHost(address)}:${address.port}`, port: address.port };
  }

  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      const deadline = setTimeout(() => {
        logger.warn('close timed out; cutting the remaining connections');
        server.closeAllConnections();
      }, options.closeTimeoutMs ?? 10_000);
      // close() stops accepting and closes idle keep-alive sockets; busy ones close as
      // their responses finish (see the Connection: close above), or at the deadline.
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      server.closeIdleConnections();
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    });
    return closing;
  }

  return { server, listen, close };
}

/** A URL host for the bound address; a wildcard bind is reachable on loopback. */
function urlHost(address: AddressInfo): string {
  if (address.family === 'IPv6') return address.address === '::' ? '[::1]' : `[${address.address}]`;
  return address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
}
