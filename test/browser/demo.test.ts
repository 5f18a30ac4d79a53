/**
 * `npm run demo` as a person uses it: the command starts, lives its month (test/demo-month.test.ts checks what it
 * left), prints the portal URL, the portal page shows the app connected to the Xero demo organisation, and SIGTERM
 * stops everything cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, launchBrowser } from '../helpers/browser.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the demo command', { skip: browserSkip }, () => {
  it('when the demo is started, then its portal page shows the app connected to the Xero demo organisation, and SIGTERM stops it with exit code 0', async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', DATA_DIR: tempDir('connector-demo-') };
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
        if (/^Demo ready\.$/m.test(stdout)) resolve();
      });
      void exited.then(([code, signal]) => reject(new Error(`the demo exited (${code ?? signal}) before it was ready:\n${stdout}\n${stderr}`)));
    });

    ready.catch(() => undefined); // awaited below; this only keeps an early exit from being an unhandled rejection
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      await ready;
      const portal = /^Portal: (\S+)$/m.exec(stdout)?.[1];
      assert.ok(portal, stdout);
      assert.match(portal, /\/portal\?user=1$/);
      assert.match(stdout, /^Portal \(non-admin\): \S+\/portal\?user=2$/m);
      assert.match(stdout, /^Xero: http:\/\/127\.0\.0\.1:\d+$/m);
      // It lived a month before it was ready, and says what the month left.
      assert.match(stdout, /^ {2}The month \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d: \d+ invoices, \d+ estimates and 1 classic invoice\(s\) written in Bitrix24,$/m);
      assert.match(stdout, /^ {2}In Xero now: .*\d+ paid.*invoice\(s\) and \d+ quote\(s\);$/m);

      const page = await browser.newPage();
      await page.goto(portal);
      const frame = page.frameLocator('#app-frame');
      await frame.locator('#tenant-name').waitFor({ timeout: 20_000 });
      assert.equal(await frame.locator('#tenant-name').innerText(), 'Demo Company (NZ)');
      assert.equal(await frame.locator('#xero-panel .badge').innerText(), 'Connected');
      assert.match(await frame.locator('#app').innerText(), /Signed in to Bitrix24 as John Admin \(administrator\)\./);
    } finally {
      await browser?.close();
      child.kill('SIGTERM');
    }
    const [code, signal] = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Demo stopped\.$/m);
  });
});
