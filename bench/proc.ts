import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

/**
 * CPU and memory of another process, from Linux's /proc (the worker and listener are separate
 * processes; asking them over IPC would add work to what is measured).
 */

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (almost always 100). */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a /proc/<pid>/stat line, in ms (fields 14 and 15, after the `(comm)`). */
export function cpuMsFromStat(stat: string, ticks = ticksPerSecond): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable stat line');
  return ((utime + stime) * 1000) / ticks;
}

export async function cpuMsOf(pid: number): Promise<number> {
  return cpuMsFromStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** Resident memory now (VmRSS) and its peak since start (VmHWM), bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}
