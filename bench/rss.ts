import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jpegOfSize } from '../test/support/images.ts';
import { memoryOf } from './proc.ts';
import { expectAllValid, makeUsers } from './rounds.ts';
import type { PipelineStack } from './stack.ts';

/**
 * P3 (issue 11): how much a worker's resident memory grows at its peak while 20 registrations
 * with two 10 MiB images each (by path) are in flight at once. One fresh worker process with
 * concurrency 20; after a warm-up of small registrations its peak is reset (clear_refs 5) and
 * the growth is its new peak (VmHWM) over its resident size just before.
 */

export interface RssResult {
  /** Bytes. */
  before: number;
  peak: number;
  growth: number;
}

const CONCURRENT = 20;
const IMAGE_BYTES = 10 * 1024 * 1024;

async function untilResults(stack: PipelineStack, count: number): Promise<void> {
  const deadline = Date.now() + 180_000;
  while ((await stack.results.getWaitingCount()) < count) {
    if (Date.now() > deadline) throw new Error('worker RSS: results missing after 180 s');
    await sleep(50);
  }
}

export async function measureRss(stack: PipelineStack): Promise<RssResult> {
  // Two files every user names: the worker opens and streams each once per registration.
  await writeFile(join(stack.imageRoot, 'big-ktp.jpg'), jpegOfSize(1, IMAGE_BYTES));
  await writeFile(join(stack.imageRoot, 'big-selfie.jpg'), jpegOfSize(2, IMAGE_BYTES));
  const c = String(CONCURRENT);
  const [worker] = await stack.startWorkers(1, {
    CONCURRENCY_INITIATE: c,
    CONCURRENCY_UPLOAD: c,
    CONCURRENCY_CONFIRM: c,
    CONCURRENCY_COMPLETE: c,
  });
  if (!worker) throw new Error('worker RSS: no worker started');
  try {
    let published = await stack.results.getWaitingCount();
    const warmUp = await makeUsers(stack, CONCURRENT);
    for (const user of warmUp) await stack.producer.enqueueRegistration(user.request);
    published += CONCURRENT;
    await untilResults(stack, published);

    await writeFile(`/proc/${worker.pid}/clear_refs`, '5');
    const { rss: before } = await memoryOf(worker.pid);
    const big = await makeUsers(stack, CONCURRENT);
    for (const user of big)
      user.request.images = { ktp: { path: 'big-ktp.jpg' }, selfie: { path: 'big-selfie.jpg' } };
    await Promise.all(big.map((user) => stack.producer.enqueueRegistration(user.request)));
    await untilResults(stack, published + CONCURRENT);
    const { peak } = await memoryOf(worker.pid);
    await expectAllValid(stack, big);
    return { before, peak, growth: peak - before };
  } finally {
    await stack.stopWorkers();
  }
}
