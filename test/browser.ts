// What the browser tests share (test/dashboard*.test.ts): Debian's chromium
// driven by playwright-core, skipped with the reason in the test's name when
// it is missing unless VALK_REQUIRE_BROWSER=1, and a fresh page (own context)
// on a server's dashboard. Never `npx playwright install`.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import type { Browser, Page } from 'playwright-core';

const req = createRequire(__filename);

/** Debian's chromium (VALK_CHROMIUM overrides the path). */
export const CHROMIUM = process.env.VALK_CHROMIUM || '/usr/bin/chromium';

function playwrightAvailable(): boolean {
  try {
    req.resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}

/** Why a browser test cannot run here ('' when it can). */
export const browserMissing = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} is not installed (apt-get install chromium)`
  : !playwrightAvailable() ? 'playwright-core is not installed (npm install)' : '';

/** Whether a test that needs what `missing` names is skipped (never with VALK_REQUIRE_BROWSER=1: it fails instead). */
export function skipped(missing: string): boolean {
  return missing !== '' && process.env.VALK_REQUIRE_BROWSER !== '1';
}

/** A browser test's name, saying why it did not run when it is skipped. */
export function browserTestName(name: string, missing = browserMissing): string {
  return skipped(missing) ? `browser test SKIPPED (${name}): ${missing}; set VALK_REQUIRE_BROWSER=1 to make this a failure` : `browser (chromium): ${name}`;
}

/** How long each wait of a browser test looks, with its step in the message (a bound, not a performance threshold). */
export const WAIT_MS = 20_000;

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /** Console errors count as page errors too. */
  consoleErrors?: boolean;
}

/**
 * One chromium for a test file, launched at first use: open() gives a fresh
 * page (its own context, closed by the cleanup it pushes) on port's
 * dashboard, with the page's errors collected; close() in afterAll.
 */
export function browserPages(cleanups: (() => Promise<void> | void)[]) {
  let browser: Browser | undefined;
  return {
    async open(port: number, opts: OpenOptions = {}): Promise<{ page: Page; errors: string[] }> {
      expect(browserMissing, 'VALK_REQUIRE_BROWSER=1 but the browser is unavailable').toBe('');
      if (!browser) {
        const { chromium } = req('playwright-core') as typeof import('playwright-core');
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--ignore-certificate-errors'],
        });
      }
      const context = await browser.newContext({ ignoreHTTPSErrors: true, ...(opts.viewport ? { viewport: opts.viewport } : {}) });
      cleanups.push(() => context.close());
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      if (opts.consoleErrors) page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      expect((await page.goto(`https://127.0.0.1:${port}/debug/`))?.status()).toBe(200);
      return { page, errors };
    },
    async close(): Promise<void> {
      await browser?.close();
      browser = undefined;
    },
  };
}
