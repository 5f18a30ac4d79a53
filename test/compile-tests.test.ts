/**
 * The fast lane's compiled mirror (scripts/compile-tests.ts): compiled modules behave like their sources where a
 * test could tell — relative imports, their own place (import.meta.url), the lines in a stack trace — and a run
 * compiles only what changed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { compiledPath, compileTests } from '../scripts/compile-tests.js';
import { tempDir } from './helpers/tmp.js';

function project(): string {
  const root = tempDir('compile-tests-');
  mkdirSync(path.join(root, 'app'), { recursive: true });
  mkdirSync(path.join(root, 'test'), { recursive: true });
  writeFileSync(path.join(root, 'app', 'place.ts'), "export const here: string = import.meta.url;\nexport type Unused = { a: number };\n");
  writeFileSync(
    path.join(root, 'app', 'thrower.ts'),
    ['interface Reason { why: string }', '', 'export function fail(r: Reason): never {', '  throw new Error(r.why);', '}', ''].join('\n'),
  );
  writeFileSync(path.join(root, 'test', 'uses.test.ts'), "import { here } from '../app/place.js';\nexport const seen = here;\n");
  return root;
}

describe('the fast lane compiled ahead', () => {
  it('when a test module is compiled, then it imports its neighbours from the mirror and each keeps its source\'s import.meta.url', async () => {
    const root = project();
    assert.equal(await compileTests(root), 3);
    const uses = (await import(pathToFileURL(compiledPath('test/uses.test.ts', root)).href)) as { seen: string };
    assert.equal(uses.seen, pathToFileURL(path.join(root, 'app', 'place.ts')).href);
  });

  it('when a compiled module throws with source maps on, then the stack trace names the TypeScript file and line', async () => {
    const root = project();
    await compileTests(root);
    process.setSourceMapsEnabled(true);
    const { fail } = (await import(pathToFileURL(compiledPath('app/thrower.ts', root)).href)) as { fail(r: { why: string }): never };
    assert.throws(() => fail({ why: 'boom' }), (err: Error) => {
      assert.match(err.stack ?? '', /thrower\.ts:4:/);
      return true;
    });
  });

  it('when nothing changed, then nothing is compiled again; when one source is newer, only it; when one is removed, so is its output', async () => {
    const root = project();
    await compileTests(root);
    assert.equal(await compileTests(root), 0);
    const later = new Date(Date.now() + 5_000);
    utimesSync(path.join(root, 'app', 'place.ts'), later, later);
    assert.equal(await compileTests(root), 1);
    rmSync(path.join(root, 'app', 'thrower.ts'));
    assert.equal(await compileTests(root), 0);
    assert.equal(existsSync(compiledPath('app/thrower.ts', root)), false);
    assert.equal(existsSync(compiledPath('app/place.ts', root)), true);
  });
});
