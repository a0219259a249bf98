import { spawnSync } from 'node:child_process';

export interface ToolRun {
  status: number;
  output: string;
}

/**
 * Run an external checker (promtool, amtool, docker-compose) and return its exit status and combined
 * output. The global setup has made sure the tool is on PATH (test/support/system-tools.ts);
 * should it be gone anyway, the test fails with the apt package that provides it.
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: { aptPackage: string; input?: string; cwd?: string; env?: NodeJS.ProcessEnv },
): ToolRun {
  const run = spawnSync(command, args, {
    input: options.input,
    cwd: options.cwd,
    env: options.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new Error(`${command} is not installed: run \`apt-get install ${options.aptPackage}\`.`);
  if (run.error) throw run.error;
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

export function promtool(args: readonly string[], input?: string): ToolRun {
  return runTool('promtool', args, { aptPackage: 'prometheus', input });
}

export function amtool(args: readonly string[]): ToolRun {
  return runTool('amtool', args, { aptPackage: 'prometheus-alertmanager' });
}
