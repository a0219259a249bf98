import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The programs outside npm that some tests run. The global setup makes sure each is on PATH
 * before any test starts, installing its apt package when it can, so that `npm ci && npm test`
 * works on a fresh machine and a missing tool is one clear line instead of failed or skipped
 * tests. To need another tool, add a line here.
 */
export interface SystemTool {
  command: string;
  aptPackage: string;
  /** What the tests use it for, as "to …": printed when it is missing or being installed. */
  why: string;
}

export const systemTools: readonly SystemTool[] = [
  {
    command: 'redis-server',
    aptPackage: 'redis-server',
    why: 'to start throw-away Redis servers',
  },
  {
    command: 'openssl',
    aptPackage: 'openssl',
    why: 'to make a certificate for the TLS Redis test',
  },
  {
    command: 'promtool',
    aptPackage: 'prometheus',
    why: 'to check the metrics output, Prometheus config and alert rules',
  },
  {
    command: 'amtool',
    aptPackage: 'prometheus-alertmanager',
    why: 'to check the Alertmanager config',
  },
  {
    command: 'docker-compose',
    aptPackage: 'docker-compose',
    why: 'to validate docker-compose.yml without a Docker engine',
  },
  {
    command: 'chromium',
    aptPackage: 'chromium',
    why: 'to test the queue UI in a real headless browser',
  },
];

/** A tool is missing and could not be installed; the message is one line that names the fix. */
export class MissingToolError extends Error {
  override name = 'MissingToolError';
}

export interface EnsureOptions {
  /** Whether to run apt-get; default: running as root and apt-get is on PATH. */
  canInstall?: boolean;
  /** Where to look for the tools; default process.env.PATH. */
  path?: string;
  /** Progress lines (installs take a while); default stderr. */
  log?: (line: string) => void;
}

// Vitest awaits a global setup without any time limit, so each apt-get run is bounded here:
// a hung mirror becomes an error rather than a test run that never starts.
const aptTimeoutMs = 10 * 60_000;

/** `apt-get update` runs at most once per process: the first install pays for it. */
let aptListsUpdated = false;

/** The executable file `command` resolves to on `path`, like `command -v`, or undefined. */
export function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function canInstallWithApt(path = process.env.PATH ?? ''): boolean {
  return process.getuid?.() === 0 && findOnPath('apt-get', path) !== undefined;
}

/**
 * Makes sure every tool is on PATH: installs the apt package of each missing one when it can,
 * else throws a MissingToolError naming the packages. Returns the packages it installed.
 */
export function ensureSystemTools(
  tools: readonly SystemTool[],
  options: EnsureOptions = {},
): string[] {
  const path = options.path ?? process.env.PATH ?? '';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = tools.filter((tool) => findOnPath(tool.command, path) === undefined);
  if (missing.length === 0) return [];

  const canInstall = options.canInstall ?? canInstallWithApt(path);
  if (!canInstall) {
    const packages = [...new Set(missing.map((tool) => tool.aptPackage))].join(' ');
    throw new MissingToolError(
      `Tests need ${missing.map(label).join(', ')}: run \`sudo apt-get install ${packages}\` ` +
        '(as root with apt-get, npm test installs them itself).',
    );
  }

  const installed: string[] = [];
  for (const tool of missing) {
    // An earlier package in this loop may have brought this command along.
    if (findOnPath(tool.command, path) !== undefined) continue;
    log(`npm test: installing apt package ${tool.aptPackage} for ${label(tool)}`);
    if (!aptListsUpdated) {
      const update = apt(['update', '-qq']);
      if (update) throw installFailed(tool, `\`apt-get update\` failed (${update})`);
      aptListsUpdated = true;
    }
    const failure = apt(['install', '-y', '-qq', '--no-install-recommends', tool.aptPackage]);
    if (failure)
      throw installFailed(tool, `\`apt-get install ${tool.aptPackage}\` failed (${failure})`);
    if (findOnPath(tool.command, path) === undefined)
      throw new MissingToolError(
        `Tests need ${label(tool)}, but it is not on PATH even though \`apt-get install ` +
          `${tool.aptPackage}\` succeeded: check PATH, then run npm test again.`,
      );
    installed.push(tool.aptPackage);
  }
  return installed;
}

function label(tool: SystemTool): string {
  return `${tool.command} (${tool.why})`;
}

function installFailed(tool: SystemTool, what: string): MissingToolError {
  return new MissingToolError(
    `Tests need ${label(tool)}, but ${what}: install apt package ${tool.aptPackage}, then run ` +
      'npm test again.',
  );
}

/** Runs apt-get quietly; returns undefined on success, else one line saying why it failed. */
function apt(args: readonly string[]): string | undefined {
  const run = spawnSync('apt-get', args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: aptTimeoutMs,
  });
  if (run.error) return run.error.message;
  if (run.status === 0) return undefined;
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').map((line) => line.trim());
  // apt's own "E: …" line names the cause (unknown package, lock held, mirror down).
  const reason = lines.find((line) => line.startsWith('E:')) ?? lines.filter(Boolean).at(-1);
  return `exit ${run.status ?? run.signal}${reason ? `: ${reason}` : ''}`;
}
