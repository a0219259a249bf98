import { connect, type Socket } from 'node:net';
import type { Redis } from 'ioredis';

/**
 * Requests clients send Redis, counted with MONITOR: every command a client sent counts once,
 * a MULTI…EXEC block counts once (ioredis writes it as one batch), and commands a script ran
 * (source `lua`) do not count. Plain pipelines still count per command, so this is an upper
 * bound on round trips; INFO's socket reads, which coalesce under load, are a lower bound.
 * MONITOR slows Redis down: the bench counts only in its warm-up round, which it does not time.
 */

export interface RequestCounter {
  /** Requests seen so far. */
  readonly requests: number;
  stop(): Promise<void>;
}

export function countRequest(
  inMulti: Set<string>,
  args: readonly string[],
  source: string,
): number {
  if (source === 'lua') return 0;
  const command = (args[0] ?? '').toLowerCase();
  if (inMulti.has(source)) {
    if (command === 'exec' || command === 'discard') inMulti.delete(source);
    return 0;
  }
  if (command === 'multi') inMulti.add(source);
  return 1;
}

/** `+<time> [<db> <source>] "<command>" …` → [source, command]; undefined for other lines. */
export function parseMonitorLine(line: string): [string, string] | undefined {
  const open = line.indexOf(' [');
  const close = line.indexOf('] "', open);
  if (!line.startsWith('+') || open < 0 || close < 0) return undefined;
  const source = line.slice(open + 2, close).split(' ')[1] ?? '';
  const end = line.indexOf('"', close + 3);
  return [source, line.slice(close + 3, end < 0 ? undefined : end)];
}

/**
 * A raw socket per master in MONITOR mode (ioredis's monitor mode can take a monitored line
 * that arrives with MONITOR's own OK for a reply and throw). MONITOR escapes every argument,
 * so each line is one command.
 */
export async function countRequests(masters: readonly Redis[]): Promise<RequestCounter> {
  let requests = 0;
  const sockets = await Promise.all(
    masters.map(
      (master) =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(master.options.port ?? 6379, master.options.host ?? '127.0.0.1');
          const inMulti = new Set<string>();
          let partial = '';
          socket.setEncoding('utf8');
          socket.once('error', reject);
          socket.once('connect', () => {
            socket.write('MONITOR\r\n');
          });
          socket.on('data', (chunk: string) => {
            const lines = (partial + chunk).split('\r\n');
            partial = lines.pop() ?? '';
            for (const line of lines) {
              if (line === '+OK') resolve(socket); // counting from here
              const parsed = parseMonitorLine(line);
              if (parsed) requests += countRequest(inMulti, [parsed[1]], parsed[0]);
            }
          });
        }),
    ),
  );
  return {
    get requests() {
      return requests;
    },
    async stop() {
      await Promise.all(
        sockets.map((socket) => new Promise<void>((resolve) => socket.end(() => resolve()))),
      );
      for (const socket of sockets) socket.destroy();
    },
  };
}
