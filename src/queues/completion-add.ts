import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { RedisClient } from '../lib/redis-topology.ts';
import { writeJobData } from '../lib/registration/format.ts';
import type { CompleteJobData } from '../lib/registration/jobs.ts';

/**
 * A callback's `complete` job, added in ONE round trip: a script that looks the submission up
 * in the store's index and, only when a registration has it, runs BullMQ's own add script
 * (the text BullMQ ships, unchanged, with the arguments BullMQ builds for it: `Job.addJob`
 * hands them to our stand-in client). So a callback for an unknown submission adds nothing,
 * the job is exactly what `Queue.add` would have made, and whether it already existed
 * (a duplicate callback: the job id is the (submissionId, status, result) triple) is told by
 * the same script instead of a `getJob` first.
 *
 * The job's data is written with the registration id left empty, and the script puts the id
 * it found there: the stored payload is the same `CompleteJobData` as before (format 1).
 *
 * It leans on BullMQ's insides (its script file, `Job.addJob` handing the arguments over), so
 * it steps aside rather than fail: when the script is not where this release of BullMQ keeps
 * it, or BullMQ asks for another command, or the script itself errs, `addIndexedCompletion`
 * answers `undefined` from then on and the sink adds the job in steps (a look-up, then
 * `Queue.add`). test/callback-sink.test.ts fails if that happens with the locked BullMQ.
 */

/** BullMQ's own add script (its includes inlined), the one Queue.add runs for a standard job. */
const addStandardJob = await import('bullmq/dist/esm/scripts/addStandardJob-9.js').then(
  (module) => module.addStandardJob,
  () => undefined,
);
let supported = addStandardJob !== undefined && typeof Job.prototype.addJob === 'function';

/** Whether callbacks are taken in one round trip (false: in steps, see above). */
export function indexedCompletionSupported(): boolean {
  return supported;
}

/** The script's own failure (not Redis being busy, full or away): BullMQ changed under us. */
class Unsupported extends Error {}
/**
 * A Lua error of the script itself (it does not compile, or fails as it runs), or our layout
 * check. Not any error that merely names the script: Redis appends "@user_script" to OOM,
 * READONLY or BUSY answers of a command inside it, and those must fail this callback (503,
 * Esign retries), not turn the one-round-trip path off for the life of the process.
 */
const scriptFailure =
  /^ERR (user_script|Error compiling)|esign-completion-layout|wrong number of arguments/;

export type IndexedAddOutcome =
  { kind: 'accepted' | 'duplicate'; registrationId: string } | { kind: 'unknown' };

/** The payload up to the registration id's value, as writeJobData lays it out. */
const DATA_HEAD = '{"registrationId":""';

const SCRIPT_NAME = 'esignAddIndexedCompletion';
const BULLMQ_KEYS = addStandardJob?.keys ?? 0;

/**
 * KEYS[1..9]: BullMQ's (addStandardJob); KEYS[10]: the submission index; KEYS[11]: the job's
 * own key. ARGV: BullMQ's three, the second being the data with an empty registration id.
 * BullMQ's script runs as a function whose KEYS, ARGV and `redis` are its arguments, so
 * nothing of it is edited; its `redis` passes every call through, noting the answer of its own
 * EXISTS on the job's key (BullMQ asks it to tell a duplicate id), so the duplicate costs no
 * command of ours. Returns {'unknown'} or {'accepted'|'duplicate', registrationId, BullMQ's
 * answer}.
 */
const lua = `
local registrationId = redis.call('GET', KEYS[${BULLMQ_KEYS + 1}])
if not registrationId then return {'unknown'} end
local head = '${DATA_HEAD}'
if string.sub(ARGV[2], 1, #head) ~= head then
  return redis.error_reply('ERR esign-completion-layout: the data is not laid out as expected')
end
local jobKey = KEYS[${BULLMQ_KEYS + 2}]
local existed = false
local watched = setmetatable({
  call = function(...)
    local reply = redis.call(...)
    local command, key = ...
    if key == jobKey and string.upper(command) == 'EXISTS' then existed = reply == 1 end
    return reply
  end,
}, { __index = redis })
local data = '{"registrationId":' .. cjson.encode(registrationId) .. string.sub(ARGV[2], #head + 1)
local bullmqKeys = {}
for i = 1, ${BULLMQ_KEYS} do bullmqKeys[i] = KEYS[i] end
local function bullmqAdd(KEYS, ARGV, redis)
${addStandardJob?.content ?? ''}
end
local added = bullmqAdd(bullmqKeys, {ARGV[1], data, ARGV[3]}, watched)
return {existed and 'duplicate' or 'accepted', registrationId, added}
`;

type ScriptReply = [string, string?, (string | number)?];
type ScriptClient = RedisClient & {
  [SCRIPT_NAME]?: (...args: (string | Buffer)[]) => Promise<ScriptReply>;
};

/** The queue's default job options, read once (BullMQ's getter copies them on every read). */
const defaults = new WeakMap<Queue, JobsOptions>();
function defaultsOf(queue: Queue): JobsOptions {
  let options = defaults.get(queue);
  if (!options) defaults.set(queue, (options = queue.defaultJobOptions));
  return options;
}

/**
 * Add `complete` for `data` (its registrationId is filled in by Redis) to `queue`, under
 * `jobId`, only if `indexKey` names a registration. `undefined`: this path is not available
 * (see above); nothing was added, or what was is the same job a `Queue.add` of it will find.
 */
export async function addIndexedCompletion(
  redis: RedisClient,
  queue: Queue,
  indexKey: string,
  jobId: string,
  data: Omit<CompleteJobData, 'registrationId'>,
): Promise<IndexedAddOutcome | undefined> {
  if (!supported || !addStandardJob) return undefined;
  const client = redis as ScriptClient;
  if (!client[SCRIPT_NAME])
    client.defineCommand(SCRIPT_NAME, { numberOfKeys: BULLMQ_KEYS + 2, lua });
  const payload = writeJobData({ registrationId: '', ...data });
  const job = new Job(queue, 'complete', payload, { ...defaultsOf(queue), jobId }, jobId);
  const scriptName = `${addStandardJob.name}:`;
  let reply: ScriptReply | undefined;
  // BullMQ builds the arguments of its add script and hands them to `runCommand`: ours runs
  // them inside the script above. Any other command means a job this path was not made for.
  const standIn = {
    async runCommand(name: string, args: (string | Buffer)[]) {
      if (!name.startsWith(scriptName)) throw new Unsupported(`BullMQ asked for ${name}`);
      const keys = args.slice(0, BULLMQ_KEYS);
      const argv = args.slice(BULLMQ_KEYS);
      reply = await client[SCRIPT_NAME]!(...keys, indexKey, queue.toKey(jobId), ...argv);
      return reply[0] === 'unknown' ? jobId : reply[2];
    },
  };
  try {
    await job.addJob(standIn as unknown as Parameters<Job['addJob']>[0]);
  } catch (error) {
    if (!(error instanceof Unsupported) && !scriptFailure.test((error as Error).message ?? ''))
      throw error;
    supported = false;
    return undefined;
  }
  if (!reply || reply[0] === 'unknown' || reply[1] === undefined) return { kind: 'unknown' };
  return { kind: reply[0] === 'duplicate' ? 'duplicate' : 'accepted', registrationId: reply[1] };
}
