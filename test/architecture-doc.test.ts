/**
 * docs/architecture.md is the newcomer's map: it must match the tree. Every source file it names exists (named from
 * the repository's root, from app/, or from app/sync/, as its tables do), and every module of app/ and placements/
 * is named in it, so a file moved, added or deleted without its map fails here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
const basenames = new Set(tracked.map((f) => path.basename(f)));

describe('the architecture note matches the tree', () => {
  it('when the note names a source file, then the file exists', () => {
    const named = [...new Set([...doc.matchAll(/`([A-Za-z0-9_./-]+\.(?:ts|js|mjs|ejs))`/g)].map((m) => m[1]!))];
    assert.ok(named.length > 50, `the note names ${named.length} files`);
    const missing = named.filter((p) => (p.includes('/')
      ? !['', 'app/', 'app/sync/'].some((base) => existsSync(path.join(root, base + p)))
      : !basenames.has(p)));
    assert.deepEqual(missing, [], 'files the note names that the tree does not have');
  });

  it('when a module is in app/ or placements/, then the note names it', () => {
    const modules = tracked.filter((f) => /^(app|placements)\/.*\.ts$/.test(f));
    const unnamed = modules.filter((f) => !doc.includes(path.basename(f)));
    assert.deepEqual(unnamed, [], 'modules the note does not name');
  });
});
