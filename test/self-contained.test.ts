// A clone of the repository alone must pass `npm test`: the data the tests read lives under test/fixtures/.
// scripts/check-self-contained.sh proves it end to end (a fresh clone with no ../shared beside it).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SPEC_PATH, loadSpec } from './emulators/xero/contract.js';
import { fixture } from './bitrix24-emulator/helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules' || name === 'fixtures' || name === 'out') return [];
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|sh)$/.test(name) ? [full] : [];
  });
}

describe('Self-contained test data', () => {
  it('when the Xero contract check loads its default spec, then the file is inside the repository and loads', async () => {
    assert.ok(SPEC_PATH.startsWith(root + path.sep), `${SPEC_PATH} is outside ${root}`);
    assert.ok(await loadSpec(), 'the contract check would be skipped');
  });

  it('when a Bitrix24 docs sample is read, then it comes from test/fixtures with its licence beside it', () => {
    assert.equal((fixture('event.ONAPPINSTALL.json') as { event: string }).event, 'ONAPPINSTALL');
    for (const dir of ['bitrix24', 'xero-openapi']) {
      assert.match(readFileSync(path.join(root, 'test/fixtures', dir, 'LICENSE'), 'utf8'), /MIT License/);
      assert.match(readFileSync(path.join(root, 'test/fixtures', dir, 'README.md'), 'utf8'), /commit `?[0-9a-f]{40}/);
    }
  });

  it('when the code and tests are scanned, then none reads from a shared folder beside the repository', () => {
    const self = fileURLToPath(import.meta.url);
    const offenders = ['app', 'test', 'scripts', 'bench'].flatMap((d) => sources(path.join(root, d)))
      .filter((f) => f !== self && /\.\.\/shared\/|shared\/(fixtures|xero-openapi)\//.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(root, f));
    assert.deepEqual(offenders, []);
  });
});
