import type { ChildProcess } from 'node:child_process';

/**
 * Every process the bench started (Redis servers, sandboxes, listener, workers, the bare
 * intake), so an interrupted run (Ctrl-C, SIGTERM) leaves none behind: Node does not take its
 * children with it.
 */
const running = new Set<ChildProcess>();

export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** On SIGINT/SIGTERM: kill every tracked child and exit 130. */
export function killChildrenOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
}
