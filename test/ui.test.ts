import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUiApp, type UiApp } from '../src/app/ui-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { launchBrowser, type Browser } from './support/browser.ts';
import { person, registrationRequest, type TestPerson } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

const queueNames = ['initiate', 'upload', 'confirm', 'poll', 'complete', 'results'];
const credentials = { username: 'ops', password: 'correct horse battery staple' };
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const screenshotDir = new URL('../.tmp/', import.meta.url).pathname;

/**
 * The queue UI on real registrations: the stack runs one that completes, one Esign rejects and
 * one that fails at upload (its selfie URL serves a GIF); the UI reads their jobs from Redis.
 * Looked at through the API and in a real headless Chromium.
 */
describe('esign-worker ui', () => {
  let stack: Stack;
  let gifServer: Server;
  let ui: UiApp;
  let url: string;
  let people: TestPerson[];
  let failedSubmission: Job;

  beforeAll(async () => {
    gifServer = createServer((_req, res) => res.end(Buffer.from('GIF89a\x01\x00\x01\x00;')));
    await new Promise<void>((resolve) => gifServer.listen(0, '127.0.0.1', resolve));
    const gifUrl = `http://127.0.0.1:${(gifServer.address() as AddressInfo).port}/selfie`;
    // A local http server: URL sources need the explicit opt-ins for http and private networks.
    stack = await startStack({
      env: {
        IMAGE_URL_ALLOWED_HOSTS: '127.0.0.1:*',
        IMAGE_URL_ALLOW_HTTP: 'true',
        IMAGE_URL_ALLOW_PRIVATE_NETWORKS: 'true',
      },
    });

    people = [person('completed'), person('invalid-DUKCAPIL_REJECTED'), person('completed')];
    const requests = people.map((who) => registrationRequest(who));
    requests[2]!.images.selfie = { url: gifUrl };
    const results: RegistrationResult[] = [];
    for (const request of requests) {
      const { registrationId } = await stack.producer.enqueueRegistration(request);
      results.push(await stack.waitForResult(registrationId, 30_000));
    }
    expect(results.map((r) => r.status)).toEqual(['COMPLETED', 'COMPLETED', 'FAILED']);
    expect(results[1]?.result).toBe('INVALID');
    // The result is published as the step gives up; the job is marked failed right after.
    let failed: Job | undefined;
    for (let tries = 0; !failed; tries += 1) {
      if (tries > 100) throw new Error('no failed submission job');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The upload step fails inside the registration's submission job (`initiate` queue).
      [failed] = (await queue('initiate').getJobs(['failed'])) as [Job?];
    }
    failedSubmission = failed;

    ui = createUiApp(
      loadConfig(
        { ...stack.env, UI_USERNAME: credentials.username, UI_PASSWORD: credentials.password },
        ['common', 'ui'],
      ),
      silentLogger(),
    );
    ({ url } = await ui.http.listen(0, '127.0.0.1'));
  }, 120_000);

  afterAll(async () => {
    await ui?.close();
    await stack?.close();
    gifServer?.close();
  });

  function queue(name: string): Queue {
    const pipeline = stack.worker?.pipelines[0];
    if (!pipeline) throw new Error('the stack runs no worker');
    const found =
      name === 'results' ? pipeline.queues.results : pipeline.queues.steps[name as 'upload'];
    if (!found) throw new Error(`no queue ${name}`);
    return found;
  }

  /** Every PII value of the test people, as the request carried it. */
  const pii = () =>
    people.flatMap((who) => [who.nik, who.name, who.email, who.phoneNumber, who.deviceId]);
  const expectNoPii = (text: string) => {
    for (const value of pii()) expect(text, 'PII shown').not.toContain(value);
  };

  it('keeps PII out of job data: step jobs point at the record, results carry no NIK, name or email', async () => {
    // `v` is the payload's format version (lib/registration/format.ts), not data.
    const allowedKeys: Record<string, string[]> = {
      initiate: ['registrationId', 'v'],
      upload: ['registrationId', 'v'],
      confirm: ['registrationId', 'v'],
      poll: ['attempt', 'registrationId', 'v'],
      complete: ['registrationId', 'source', 'state', 'timedOut', 'v'],
    };
    const seen = new Map<string, number>();
    for (const name of queueNames) {
      const jobs = await queue(name).getJobs([
        'completed',
        'failed',
        'delayed',
        'waiting',
        'active',
      ]);
      for (const job of jobs) {
        seen.set(name, (seen.get(name) ?? 0) + 1);
        const data = job.data as Record<string, unknown>;
        if (name !== 'results')
          expect(allowedKeys[name], `${name} job data`).toEqual(
            expect.arrayContaining(Object.keys(data)),
          );
        else
          for (const key of ['nik', 'name', 'email', 'userDetails'])
            expect(data).not.toHaveProperty(key);
        expectNoPii(
          JSON.stringify({ data, failedReason: job.failedReason, stacktrace: job.stacktrace }),
        );
      }
    }
    // One submission job and one result per registration, and the completions of the two
    // that reached Esign's verdict: every kind of job data was looked at.
    expect(seen.get('initiate')).toBe(3);
    expect(seen.get('results')).toBe(3);
    expect(seen.get('complete')).toBeGreaterThanOrEqual(2);
    // …and what the UI's API hands the browser, every queue's latest jobs.
    for (const name of queueNames) {
      const res = await fetch(
        `${url}/api/queues?activeQueue=${name}&status=latest&page=1&jobsPerPage=50`,
        {
          headers: { authorization: basic(credentials.username, credentials.password) },
        },
      );
      expect(res.status).toBe(200);
      expectNoPii(await res.text());
    }
  });

  it('asks for credentials: 401 without them or with a wrong password; /healthz is open', async () => {
    const none = await fetch(`${url}/`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const api = await fetch(`${url}/api/queues`);
    expect(api.status).toBe(401);
    for (const [user, password] of [
      [credentials.username, 'wrong password'],
      ['someone', credentials.password],
      [credentials.username, `${credentials.password}x`],
    ] as const) {
      const wrong = await fetch(`${url}/api/queues`, {
        headers: { authorization: basic(user, password) },
      });
      expect(wrong.status, `${user}:${password}`).toBe(401);
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('is read-only by default: retry and clean are refused through the API', async () => {
    const headers = { authorization: basic(credentials.username, credentials.password) };
    const listed = (await (await fetch(`${url}/api/queues`, { headers })).json()) as {
      queues: { name: string; readOnlyMode: boolean }[];
    };
    expect(listed.queues.map((q) => q.name).sort()).toEqual([...queueNames].sort());
    expect(listed.queues.every((q) => q.readOnlyMode)).toBe(true);
    for (const action of [
      'retry/failed',
      'clean/failed',
      `${failedSubmission.id}/retry`,
      `${failedSubmission.id}/clean`,
      'pause',
    ]) {
      const res = await fetch(`${url}/api/queues/initiate/${action}`, { method: 'PUT', headers });
      expect(res.status, action).toBe(405);
    }
    expect(await queue('initiate').getJobState(failedSubmission.id ?? '')).toBe('failed');
    expect(await queue('initiate').isPaused()).toBe(false);
  });

  it('shows the six queues and a failed job with its reason in a real browser, without PII', async () => {
    const browser: Browser = await launchBrowser({ origin: url, httpCredentials: credentials });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${url}/`);
      for (const name of queueNames)
        await page.getByRole('link', { name, exact: true }).first().waitFor({ timeout: 15_000 });
      const overview = await page.locator('body').innerText();
      expect(overview).toContain('esign-worker (read-only)');
      expectNoPii(overview);
      await mkdir(screenshotDir, { recursive: true });
      await page.screenshot({ path: `${screenshotDir}ui-screenshot.png` });

      // The submission that failed at upload: open the queue, its failed tab, then the job.
      await page.getByRole('link', { name: 'initiate', exact: true }).first().click();
      await page
        .getByRole('link', { name: /failed/i })
        .first()
        .click();
      await page
        .getByRole('link', { name: String(failedSubmission.id) })
        .first()
        .click();
      await page.waitForURL(new RegExp(`/queue/initiate/${failedSubmission.id}(\\?|$)`));
      await page.getByRole('tab', { name: 'Error' }).click();
      await page.getByText(failedSubmission.failedReason).first().waitFor({ timeout: 15_000 });
      expect(failedSubmission.failedReason).toMatch(/^IMAGE_INVALID: .*SELFIE/);
      const jobPage = await page.locator('body').innerText();
      expect(jobPage).toContain(failedSubmission.failedReason);
      expectNoPii(jobPage);
      await page.screenshot({ path: `${screenshotDir}ui-failed-job.png` });

      // A result, with its data tab open: the data is on screen, the PII is not.
      await page.goto(`${url}/queue/results?status=completed`);
      await page.getByRole('link', { name: /-1$/ }).first().click();
      await page.getByRole('tab', { name: 'Data' }).click();
      await page.getByText('registrationId').first().waitFor({ timeout: 15_000 });
      expectNoPii(await page.locator('body').innerText());
    } finally {
      await browser.close();
    }
  }, 90_000);
});
