import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { statusBed, type StatusBed } from '../statuses/bed.js';
import { TEST_SECRET } from '../helpers/store.js';
import { seedXeroContacts } from './bed.js';
import { IMPORT_NODE_FLAGS } from '../../app/import-cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run import -- …` as its own process on the connector's store. */
function cli(bed: StatusBed, args: string[]) {
  const child = spawn(process.execPath, [...IMPORT_NODE_FLAGS, '--import', 'tsx', 'app/import-cli.ts', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: bed.c.config.dataDir, APP_SECRET: TEST_SECRET, LOG_LEVEL: 'warn',
      B24_CLIENT_ID: bed.c.config.bitrix.clientId ?? '', B24_CLIENT_SECRET: bed.c.config.bitrix.clientSecret ?? '', B24_OAUTH_URL: bed.b24.baseUrl,
      XERO_CLIENT_ID: bed.xero.clientId, XERO_CLIENT_SECRET: bed.xero.clientSecret, XERO_API_URL: bed.xero.baseUrl, XERO_IDENTITY_URL: bed.xero.baseUrl, XERO_LOGIN_URL: bed.xero.baseUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  return { child, exited, output: () => output };
}

describe('import command line', () => {
  it('when the command line is killed half-way through an import and started again, then it resumes and every Xero contact exists once in Bitrix24', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 600, 0);
    const first = cli(bed, ['--what', 'companies,contacts']);
    // Kill it once part of the companies are written (a batch may be in flight: its answer is lost).
    const killedAt = await new Promise<number>((resolve, reject) => {
      const t = setInterval(() => {
        const n = bed.b24.items(4).length;
        if (n >= 150) { clearInterval(t); first.child.kill('SIGKILL'); resolve(n); }
      }, 5);
      void first.exited.then((code) => { clearInterval(t); reject(new Error(`finished before the kill (${code}): ${first.output()}`)); });
    });
    await first.exited;
    assert.ok(killedAt < 600 + 2, 'killed before the end');
    const second = cli(bed, ['--what', 'companies,contacts']);
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /Resuming import/);
    const titles = bed.b24.items(4).map((c) => String(c.title));
    assert.equal(new Set(titles).size, titles.length, 'no company twice');
    const xeroOrgs = bed.xero.contacts(bed.tenantId).filter((c) => /^Org \d+ Ltd$/.test(String(c.Name)));
    for (const o of xeroOrgs) assert.ok(titles.includes(String(o.Name)), `${o.Name} imported`);
    const people = bed.b24.items(3).map((c) => `${c.name} ${c.lastName} ${c.companyId}`);
    assert.equal(new Set(people).size, people.length, 'no contact twice');
    assert.equal(bed.b24.items(3).filter((c) => /^(Pat|Sam)$/.test(String(c.name))).length, 600 * 2);
  });

  it('when --what is missing or names an unknown type, then the command line says what to pass and exits 1', async () => {
    const bed = await statusBed();
    const bad = cli(bed, ['--what', 'companies,invoices']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.output(), /unknown record types \(invoices\)/);
  });

  it('when --dry-run is given, then the preview is printed, nothing is written to Bitrix24 and it exits 0', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 3, 0);
    const dry = cli(bed, ['--what', 'companies', '--dry-run']);
    assert.equal(await dry.exited, 0, dry.output());
    assert.match(dry.output(), /Preview: \d+ to create/);
    assert.equal(bed.b24.items(4).length, 0);
  });
});
