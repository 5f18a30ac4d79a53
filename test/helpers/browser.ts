/**
 * Headless Chromium for the browser tests (playwright-core driving Debian's /usr/bin/chromium; CI installs it
 * with scripts/install-browser.sh). Without Chromium the tests fail in CI with that instruction; on a developer
 * machine (CI unset) they are skipped with the same notice.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const MISSING = `Chromium is missing at ${CHROMIUM}: run scripts/install-browser.sh (as root) to install it.`;

/** `describe(..., { skip: browserSkip })`: a visible skip reason locally, never a skip in CI. */
export const browserSkip: string | false = !existsSync(CHROMIUM) && !process.env.CI ? `${MISSING} (skipped because CI is not set)` : false;

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
