import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed } from '../statuses/bed.js';
import { seedXeroContacts } from './bed.js';
import { cli } from './cli.js';

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

  it('when the import is started with npm run import, then node runs the built import with the import\'s memory flags, as the benchmark measures it', async () => {
    const { readFileSync } = await import('node:fs');
    const { IMPORT_NODE_FLAGS } = await import('../../app/import-cli.js');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.import, `node ${IMPORT_NODE_FLAGS.join(' ')} scripts/start.mjs import-cli`);
  });
});
