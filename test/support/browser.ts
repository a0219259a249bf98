import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (apt `chromium`, listed in system-tools.ts); Playwright downloads nothing. */
export const chromiumPath = '/usr/bin/chromium';

/**
 * Without the background-networking flags Chromium keeps calling home, which on a closed
 * network is a stream of refused connections. `--no-sandbox`: tests run as root.
 */
const flags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export interface BrowserOptions {
  httpCredentials?: { username: string; password: string };
  /** Only this origin is reached: requests elsewhere (web fonts, CDNs) are aborted. */
  origin: string;
}

/**
 * A headless Chromium with a fresh profile (its own --user-data-dir, removed on close). Playwright
 * adds --headless and sets --user-data-dir from the directory given here.
 */
export async function launchBrowser(options: BrowserOptions): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'esign-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: flags,
    viewport: { width: 1400, height: 900 },
    ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
  });
  await context.route(
    (url) => url.origin !== options.origin,
    (route) => route.abort(),
  );
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
