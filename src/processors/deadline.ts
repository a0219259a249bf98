import { postponeDeadline } from '../lib/registration/transitions.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import type { StepContext } from './context.ts';
import { applyTransition } from './record-helpers.ts';

/**
 * The deadline job fired. Time the queues were paused in this attempt does not count (an
 * operator held the work: nobody could tell a late answer from none), so the deadline moves
 * out by it, with every key of the registration (record, user slot, images) living as long,
 * and the job waits until then. Returns that new time, or undefined: the deadline stands.
 */
export async function postponedDeadline(
  ctx: StepContext,
  record: RegistrationRecord,
): Promise<number | undefined> {
  const now = ctx.now();
  // Before the deadline, the timeout is the poll's give-up, which counted the pauses itself.
  if (record.deadlineAt === undefined || now < record.deadlineAt) return undefined;
  const paused = await ctx.pausedWithin(attemptStart(record), now);
  if (paused <= (record.pauseCreditMs ?? 0)) return undefined;
  const { record: moved, changed } = await applyTransition(ctx, record.registrationId, (current) =>
    postponeDeadline(current, paused),
  );
  if (!changed || moved.deadlineAt === undefined || moved.deadlineAt <= now) return undefined;
  await ctx.store.slots.expire(moved, ctx.store.ttlOf(moved));
  await ctx.imageStore.expire(moved.registrationId, ctx.store.ttlOf(moved));
  ctx.logger.info(
    { registrationId: moved.registrationId, pausedMs: paused },
    'deadline moved out by the time the queues were paused',
  );
  return moved.deadlineAt;
}

/** When this attempt was enqueued: its QUEUED entry (a retry adds one), else the enqueue. */
function attemptStart(record: RegistrationRecord): number {
  return record.history.findLast((entry) => entry.status === 'QUEUED')?.at ?? record.enqueuedAt;
}
