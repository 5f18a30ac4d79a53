/**
 * Headless Chromium for the browser tests (playwright-core driving Debian's /usr/bin/chromium; CI installs it
 * with scripts/install-browser.sh). Without Chromium the tests fail in CI with that instruction; on a developer
 * machine (CI unset) they are skipped with the same notice.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

/**
 * Where the browser tests write their screenshots: docs/screenshots/ (the README's and docs' pictures) when run by
 * `npm run screenshots` (SCREENSHOTS=docs), else a folder of the system's temp directory, so that `npm test` leaves the
 * working tree as it found it.
 */
export const SHOTS = process.env.SCREENSHOTS === 'docs'
  ? fileURLToPath(new URL('../../docs/screenshots', import.meta.url))
  : path.join(tmpdir(), 'connector-screenshots');
