import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import type { Config } from '../lib/config.ts';
import { isWorkerError } from '../lib/errors.ts';
import { stepNames, type StepName } from '../lib/registration/jobs.ts';
import { registrationStatuses, type RegistrationStatus } from '../lib/registration/record.ts';
import { listByStatus, rebuildStatusIndex } from '../lib/registration/status-index.ts';
import { toView } from '../lib/registration/view.ts';
import { registrationJobs } from '../queues/inspect.ts';
import { pauseStates, pauseSteps, resumeSteps } from '../queues/pause.ts';
import { producerOn } from '../queues/producer.ts';
import { exitCodes } from './cli.ts';
import { createRuntime, type Runtime } from './runtime.ts';

/**
 * The operator's commands on a running deployment: `list`, `inspect`, `retry`, `pause`,
 * `resume` (docs/operations.md, "Ops commands"). Each opens a fail-fast connection, does one
 * thing and closes it; main.ts hands over the configuration and prints nothing of its own.
 * Output goes to `out` (results) and `err` (one line per problem); the return is the exit code.
 */

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  stdin: NodeJS.ReadableStream;
}

type OpsConfig = Config<'common' | 'pipeline'>;
type Options = Record<string, string | boolean | undefined>;

const DEFAULT_LIMIT = 100;
/** A request file is small: a read that takes longer is stuck (a FIFO, a hung mount). */
const READ_TIMEOUT_MS = 10_000;
const MAX_LIMIT = 10_000;

async function withRuntime(
  config: OpsConfig,
  name: string,
  use: (runtime: Runtime) => Promise<number>,
): Promise<number> {
  const runtime = createRuntime(config, { connection: { failFast: true, name } });
  try {
    return await use(runtime);
  } finally {
    await runtime.close();
  }
}

const isStatus = (value: string): value is RegistrationStatus =>
  (registrationStatuses as readonly string[]).includes(value);

export async function list(config: OpsConfig, options: Options, io: Io): Promise<number> {
  const status = typeof options.status === 'string' ? options.status : '';
  const limitText = typeof options.limit === 'string' ? options.limit : String(DEFAULT_LIMIT);
  const limit = /^\d{1,6}$/.test(limitText) ? Number(limitText) : Number.NaN;
  const problems: string[] = [];
  if (!isStatus(status))
    problems.push(`--status: must be one of ${registrationStatuses.join(', ')}`);
  if (!(limit >= 1 && limit <= MAX_LIMIT))
    problems.push(`--limit: must be a whole number from 1 to ${MAX_LIMIT}`);
  if (problems.length > 0 || !isStatus(status)) {
    for (const problem of problems) io.err(problem);
    return exitCodes.usage;
  }
  return withRuntime(config, 'esign-list', async (runtime) => {
    // Each partition's index in turn, merged: longest in the status first, across them all.
    const found = (
      await Promise.all(
        runtime.all.map((partition) =>
          listByStatus(partition.redis, partition.prefix, status, limit),
        ),
      )
    )
      .flat()
      .sort((a, b) => a.updatedAt - b.updatedAt)
      .slice(0, limit);
    const now = Date.now();
    if (options.json)
      io.out(
        JSON.stringify(
          found.map((entry) => ({
            registrationId: entry.registrationId,
            status: entry.status,
            enqueuedAt: new Date(entry.enqueuedAt).toISOString(),
            updatedAt: new Date(entry.updatedAt).toISOString(),
          })),
        ),
      );
    else
      for (const entry of found)
        io.out(`${entry.registrationId}\t${entry.status}\t${formatAge(now - entry.enqueuedAt)}`);
    return exitCodes.ok;
  });
}

export async function reindex(config: OpsConfig, io: Io): Promise<number> {
  return withRuntime(config, 'esign-reindex', async (runtime) => {
    let added = 0;
    for (const partition of runtime.all)
      added += await rebuildStatusIndex(partition.redis, partition.prefix);
    io.out(`indexed ${added} registration(s) that were not indexed yet`);
    return exitCodes.ok;
  });
}

/** 42s, 5m03s, 2h07m, 3d04h: two units at most, for a column people read. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3600)}h${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${pad(Math.floor(seconds / 3600) % 24)}h`;
}

export async function inspect(config: OpsConfig, id: string, io: Io): Promise<number> {
  return withRuntime(config, 'esign-inspect', async (runtime) => {
    const partition = await runtime.ofRegistration(id);
    const record = await partition?.store.get(id);
    if (!partition || !record) {
      io.err(`registration ${id} does not exist`);
      return exitCodes.unknownRegistration;
    }
    const jobs = await registrationJobs(partition.queues, record);
    io.out(JSON.stringify({ registration: toView(record), jobs }, null, 2));
    return exitCodes.ok;
  });
}

export async function retry(
  config: Config<'common' | 'pipeline' | 'producer' | 'pii'>,
  args: string[],
  io: Io,
): Promise<number> {
  const [id = '', source] = args;
  let request: unknown;
  if (source !== undefined) {
    const read = await readJson(source, io);
    if (!read.ok) return exitCodes.invalid;
    request = read.value;
  }
  return withRuntime(config, 'esign-retry', async (runtime) => {
    const producer = producerOn(runtime, config.producer.ESIGN_PARTNER_USER_ID_TYPE);
    try {
      const outcome = await producer.retryRegistration(id, request);
      if (!outcome.started)
        io.err(`registration ${id}: attempt ${outcome.attempt} was already queued; nothing new`);
      io.out(`${outcome.registrationId}\tattempt ${outcome.attempt}`);
      return exitCodes.ok;
    } catch (error) {
      if (isWorkerError(error) && error.code === 'REGISTRATION_NOT_FOUND') {
        io.err(error.message);
        return exitCodes.unknownRegistration;
      }
      throw error;
    }
  });
}

/** The steps named, or every step queue; unknown names are a usage error. */
function chooseSteps(args: string[], io: Io): StepName[] | undefined {
  const unknown = args.filter((name) => !(stepNames as readonly string[]).includes(name));
  for (const name of unknown)
    io.err(`unknown step "${name}": the steps are ${stepNames.join(', ')}`);
  if (unknown.length > 0) return undefined;
  return args.length === 0 ? [...stepNames] : (args as StepName[]);
}

export async function pauseOrResume(
  config: OpsConfig,
  action: 'pause' | 'resume',
  args: string[],
  io: Io,
): Promise<number> {
  const steps = chooseSteps(args, io);
  if (!steps) return exitCodes.usage;
  return withRuntime(config, `esign-${action}`, async (runtime) => {
    // Every partition's queues (QUEUE_PARTITIONS), each with its own ledger: a partition's
    // polls read the ledger beside them.
    const many = runtime.all.length > 1;
    for (const [index, partition] of runtime.all.entries()) {
      await (action === 'pause' ? pauseSteps : resumeSteps)(partition, steps);
      for (const state of await pauseStates(partition, steps))
        io.out(
          `${state.step}${many ? `[${index}]` : ''}\t${state.paused ? 'paused' : 'running'}` +
            (state.since ? `\tsince ${state.since}` : ''),
        );
    }
    return exitCodes.ok;
  });
}

/** A JSON file, or stdin for `-`; a problem is one line on stderr naming the source only. */
export async function readJson(
  source: string,
  io: Pick<Io, 'err' | 'stdin'>,
): Promise<{ ok: true; value: unknown } | { ok: false }> {
  let raw: string;
  try {
    raw =
      source === '-'
        ? await text(io.stdin)
        : await readFile(source, {
            encoding: 'utf8',
            signal: AbortSignal.timeout(READ_TIMEOUT_MS),
          });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    io.err(`The registration request ${source} cannot be read (${reason}).`);
    return { ok: false };
  }
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    // Not the parser's message: it quotes the text, which may hold PII.
    io.err('The registration request is not valid JSON.');
    return { ok: false };
  }
}
