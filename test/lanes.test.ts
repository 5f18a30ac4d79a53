// Every test file runs in exactly one lane of `npm test` (test/lanes.ts, scripts/test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { plan, testFiles } from '../scripts/test.js';
import { LANES, LANE_NAMES, laneOf, names } from './lanes.js';

describe('test lanes', () => {
  it('when the lanes are planned, then every test file of the repository is in exactly one lane and npm test runs them all', () => {
    const files = testFiles();
    assert.ok(files.includes('test/lanes.test.ts') && files.includes('test/browser/settings.test.ts'), 'the walk finds nested files');
    const lanes = plan(files);
    const planned = LANE_NAMES.flatMap((l) => lanes[l]);
    assert.deepEqual([...planned].sort(), files, 'each file in one lane, none left out');
    assert.equal(new Set(planned).size, planned.length);
    const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts.test!, /scripts\/test\.ts all$/, 'npm test runs every lane');
    for (const lane of LANE_NAMES) assert.match(scripts[`test:${lane}`]!, new RegExp(`scripts/test\\.ts ${lane}$`));
  });

  it('when the manifest names a file or folder, then it exists, holds a test file and is named by no other lane', () => {
    const files = testFiles();
    for (const [lane, entries] of Object.entries(LANES)) {
      for (const entry of entries) {
        const hit = files.filter((f) => names(entry, f));
        assert.ok(hit.length > 0, `${lane} lane: "${entry}" names no test file (moved or renamed?)`);
        for (const f of hit) assert.equal(laneOf(f), lane, `${f} is named by two lanes`);
      }
    }
  });

  it('when a new test file is added anywhere else, then it lands in the fast lane', () => {
    assert.equal(laneOf('test/some-new-area/new-thing.test.ts'), 'fast');
    assert.equal(laneOf('test/browser/new-page.test.ts'), 'browser');
  });
});
